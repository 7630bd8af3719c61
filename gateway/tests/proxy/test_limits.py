"""Header size, page size, per-route timeouts and 405 with Allow."""



from gateway.tests.conftest import Network, Serve, Standin, StartGateway
from waymark_kernel.auth import NETWORK_ADMIN, VIEWER


async def test_oversized_headers_are_refused_before_the_service(network: Network) -> None:
    headers = {**network.headers(None, VIEWER), "X-Padding": "x" * (17 * 1024)}

    response = await network.client.get("/v1/organizations", headers=headers)

    assert response.status_code == 431
    assert response.headers["content-type"] == "application/problem+json"
    assert network.registry.state.calls == []


async def test_a_route_timeout_replaces_the_upstream_timeout(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    referrals = standin("referrals")
    async with serve(referrals) as referrals_url, start_gateway(
        referrals_url=referrals_url, upstream_timeout_seconds=30,
        route_timeouts="GET /v1/cases=0.2,GET /v1/cases/long=30",
    ) as gateway:
        response = await gateway.client.get(
            "/v1/cases/slow", headers=gateway.headers(gateway.known_organization, VIEWER)
        )

    assert response.status_code == 504
    assert response.json()["type"] == "https://waymark.network/problems/upstream-timeout"


async def test_a_wrong_method_on_a_gateway_route_is_405_with_allow(network: Network) -> None:
    response = await network.client.get("/v1/auth/token")

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_page_of_clients_over_one_hundred_is_refused(network: Network) -> None:
    response = await network.client.get(
        f"/v1/organizations/{network.known_organization}/clients", params={"limit": 101},
        headers=network.headers(None, NETWORK_ADMIN),
    )

    assert response.status_code == 422


async def test_the_bulk_import_waits_longer_than_other_calls(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    registry = standin("registry")
    async with serve(registry) as registry_url, start_gateway(
        registry_url=registry_url, upstream_timeout_seconds=0.2
    ) as gateway:
        headers = gateway.headers(None, NETWORK_ADMIN)
        # The stand-in answers a path ending in `slow` after 5 s.
        other = await gateway.client.post("/v1/services/slow", headers=headers)
        bulk_import = await gateway.client.post("/v1/hsds/dataset/slow", headers=headers)

    assert other.status_code == 504
    assert bulk_import.status_code == 201
