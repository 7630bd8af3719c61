

from gateway.tests.conftest import Network, Serve, Standin
from waymark_kernel.auth import CASEWORKER, NETWORK_ADMIN, ORG_ADMIN


async def test_the_gateway_is_alive(network: Network) -> None:
    response = await network.client.get("/healthz")

    assert response.status_code == 200
    assert response.headers["x-request-id"]


async def test_readiness_reports_the_database_and_each_service(
    network: Network, standin: Standin, serve: Serve
) -> None:
    down = await network.client.get("/readyz")
    async with serve(standin("notifications"), network.notifications_port):
        up = await network.client.get("/readyz")

    assert down.status_code == 503
    assert down.json()["checks"]["notifications"].startswith("unavailable")
    assert up.status_code == 200
    assert up.json()["checks"] == {
        "database": "ok", "registry": "ok", "referrals": "ok", "notifications": "ok",
    }


async def test_metrics_count_proxied_calls(network: Network) -> None:
    await network.client.get("/v1/cases")

    response = await network.client.get("/metrics", headers=network.headers(None, NETWORK_ADMIN))

    assert response.status_code == 200
    counter = 'waymark_http_requests_total{component="gateway",method="GET",status="401"}'
    assert counter in response.text


async def test_finding_9_the_gateways_metrics_are_for_the_network_admin_only(
    network: Network
) -> None:
    anonymous = await network.client.get("/metrics")
    organisation_admin = await network.client.get(
        "/metrics", headers=network.headers(network.known_organization, ORG_ADMIN, CASEWORKER)
    )

    assert anonymous.status_code == 401
    assert organisation_admin.status_code == 403
    for refused in (anonymous, organisation_admin):
        assert refused.headers["content-type"] == "application/problem+json"
        assert "waymark_" not in refused.text
