import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote_plus

import jwt
import pytest

from gateway.tests.conftest import Network, Serve, Standin, StartGateway
from waymark_kernel.auth import CASEWORKER, NETWORK_ADMIN, VIEWER
from waymark_kernel.testing import TestIssuer

ONE_MIB = 1024 * 1024


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "waymark", "aud": "waymark-api", "sub": "intruder", "iat": now, "nbf": now,
        "exp": now + 300, "roles": [NETWORK_ADMIN], "org": None, **overrides,
    }


@pytest.mark.parametrize(("path", "service"), [
    ("/v1/organizations", "registry"),
    ("/v1/services/5a0c1f3e-8f1d-4c1a-9b1e-2f3a4b5c6d7e", "registry"),
    ("/v1/taxonomy", "registry"),
    ("/v1/countries", "registry"),
    ("/v1/hsds/services", "registry"),
    ("/v1/hsds/sources", "registry"),
    ("/v1/hsds/sources/5a0c1f3e-8f1d-4c1a-9b1e-2f3a4b5c6d7e/runs", "registry"),
    ("/v1/hsds/crosswalks", "registry"),
    ("/v1/cases", "referrals"),
    ("/v1/referrals/5a0c1f3e-8f1d-4c1a-9b1e-2f3a4b5c6d7e/history", "referrals"),
    ("/v1/stats/referrals", "referrals"),
])
async def test_each_collection_goes_to_its_service(
    network: Network, path: str, service: str
) -> None:
    response = await network.client.get(
        path, params={"limit": "5", "q": "Красный Крест"},
        headers=network.headers(network.known_organization, VIEWER),
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["service"] == service
    assert body["path"] == path
    assert body["query"] == "limit=5&q=" + quote_plus("Красный Крест")


async def test_method_body_and_authorization_reach_the_service_unchanged(network: Network) -> None:
    headers = network.headers(network.known_organization, CASEWORKER)

    response = await network.client.post(
        "/v1/cases", content=b'{"reference": "x"}',
        headers={**headers, "Content-Type": "application/json", "Idempotency-Key": "k-1",
                 "Proxy-Authorization": "Basic c2VjcmV0", "TE": "trailers"},
    )

    assert response.status_code == 201
    assert response.json()["body_size"] == len(b'{"reference": "x"}')
    [call] = network.referrals.state.calls
    assert call.method == "POST"
    assert call.body == b'{"reference": "x"}'
    assert call.headers["authorization"] == headers["Authorization"]
    assert call.headers["content-type"] == "application/json"
    assert call.headers["idempotency-key"] == "k-1"
    assert call.headers["x-forwarded-for"] == "203.0.113.7"
    assert "proxy-authorization" not in call.headers
    assert "te" not in call.headers


async def test_the_services_answer_comes_back_with_its_headers(network: Network) -> None:
    response = await network.client.get(
        "/v1/cases", headers=network.headers(network.known_organization, VIEWER)
    )

    assert response.headers["x-stand-in"] == "referrals"
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)


async def test_the_request_id_is_passed_on_and_echoed_once(network: Network) -> None:
    response = await network.client.get(
        "/v1/organizations", headers={
            **network.headers(None, VIEWER), "X-Request-ID": "partner-trace-42",
        },
    )

    assert response.headers.get_list("x-request-id") == ["partner-trace-42"]
    [call] = network.registry.state.calls
    assert call.headers["x-request-id"] == "partner-trace-42"


async def test_a_request_id_is_made_when_none_is_sent(network: Network) -> None:
    response = await network.client.get("/v1/organizations", headers=network.headers(None, VIEWER))

    [request_id] = response.headers.get_list("x-request-id")
    [call] = network.registry.state.calls
    assert call.headers["x-request-id"] == request_id


async def test_a_call_without_a_token_is_refused_before_the_service(network: Network) -> None:
    response = await network.client.get("/v1/cases")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["x-request-id"]
    body = response.json()
    assert body["type"] == "https://waymark.network/problems/unauthenticated"
    assert body["instance"] == "/v1/cases"
    assert network.referrals.state.calls == []


async def test_a_token_signed_by_another_key_is_refused(network: Network) -> None:
    forged = TestIssuer().token(None, NETWORK_ADMIN)

    response = await network.client.get(
        "/v1/organizations", headers={"Authorization": f"Bearer {forged}"}
    )

    assert response.status_code == 401
    assert network.registry.state.calls == []


async def test_a_token_with_the_gateways_key_id_but_another_key_is_refused(
    network: Network
) -> None:
    forged = TestIssuer().key.private_key
    token = jwt.encode(
        claims(), forged, algorithm="EdDSA", headers={"kid": network.signing_key.kid}
    )

    response = await network.client.get(
        "/v1/organizations", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 401
    assert network.registry.state.calls == []


async def test_an_expired_token_is_refused(network: Network) -> None:
    expired = network.token(network.known_organization, VIEWER, ttl_seconds=-60)

    response = await network.client.get(
        "/v1/cases", headers={"Authorization": f"Bearer {expired}"}
    )

    assert response.status_code == 401
    assert response.json()["detail"] == "The token has expired."
    assert network.referrals.state.calls == []


async def test_an_unsigned_token_is_refused(network: Network) -> None:
    unsigned = jwt.encode(
        claims(), "", algorithm="none", headers={"kid": network.signing_key.kid}
    )

    response = await network.client.get(
        "/v1/organizations", headers={"Authorization": f"Bearer {unsigned}"}
    )

    assert response.status_code == 401
    assert network.registry.state.calls == []


async def test_a_token_in_the_query_string_is_refused(network: Network) -> None:
    token = network.token(None, NETWORK_ADMIN)

    without_header = await network.client.get("/v1/organizations", params={"access_token": token})
    with_header = await network.client.get(
        "/v1/organizations", params={"access_token": token},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert without_header.status_code == with_header.status_code == 401
    assert network.registry.state.calls == []


async def test_a_body_over_one_mebibyte_is_refused(network: Network) -> None:
    response = await network.client.post(
        "/v1/cases", content=b"x" * (ONE_MIB + 1),
        headers=network.headers(network.known_organization, CASEWORKER),
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert network.referrals.state.calls == []


async def test_a_streamed_body_over_one_mebibyte_is_refused(network: Network) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(17):
            yield b"x" * 65536

    response = await network.client.post(
        "/v1/cases", content=chunks(),
        headers=network.headers(network.known_organization, CASEWORKER),
    )

    assert response.status_code == 413
    assert network.referrals.state.calls == []


async def test_a_body_of_one_mebibyte_is_forwarded(network: Network) -> None:
    response = await network.client.post(
        "/v1/cases", content=b"x" * ONE_MIB,
        headers=network.headers(network.known_organization, CASEWORKER),
    )

    assert response.status_code == 201
    assert response.json()["body_size"] == ONE_MIB


async def test_the_gateways_own_routes_refuse_big_bodies_too(network: Network) -> None:
    response = await network.client.post(
        "/v1/auth/token", content=b"grant_type=" + b"x" * ONE_MIB,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 413


async def test_a_service_that_is_down_is_a_bad_gateway(network: Network) -> None:
    response = await network.client.get(
        "/v1/subscriptions", headers=network.headers(network.known_organization, VIEWER)
    )

    assert response.status_code == 502
    assert response.headers["retry-after"] == "1"  # a replica may answer by then
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"]
    body = response.json()
    assert body["type"] == "https://waymark.network/problems/upstream-unavailable"
    assert body["detail"] == "The notifications service is unavailable; try again shortly."


async def test_a_service_that_does_not_answer_in_time_is_a_gateway_timeout(
    network: Network
) -> None:
    response = await network.client.get(
        "/v1/cases/slow", headers=network.headers(network.known_organization, VIEWER)
    )

    assert response.status_code == 504
    body = response.json()
    assert body["type"] == "https://waymark.network/problems/upstream-timeout"
    assert body["detail"] == "The referrals service did not answer in time; try again shortly."


async def test_cookies_of_one_caller_never_reach_another(network: Network) -> None:
    first = await network.client.get("/v1/cases", headers=network.headers(uuid.uuid4(), VIEWER))
    network.client.cookies.clear()
    await network.client.get("/v1/cases", headers=network.headers(uuid.uuid4(), VIEWER))

    assert first.headers["set-cookie"].startswith("session=")
    assert [call.headers.get("cookie") for call in network.referrals.state.calls] == [None, None]


async def test_an_unknown_address_is_a_not_found_problem(network: Network) -> None:
    response = await network.client.get("/v2/anything")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"]


async def test_too_many_requests_of_one_client_are_refused(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    registry = standin("registry")
    async with (
        serve(registry) as registry_url,
        start_gateway(registry_url=registry_url, rate_limit="2/minute") as gateway,
    ):
        limited = gateway.headers(None, VIEWER)
        answers = [
            await gateway.client.get("/v1/organizations", headers=limited) for _ in range(3)
        ]
        other = await gateway.client.get(
            "/v1/organizations", headers=gateway.headers(None, VIEWER)
        )

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert int(answers[2].headers["retry-after"]) >= 1
    assert answers[2].json()["type"] == "https://waymark.network/problems/rate-limited"
    assert other.status_code == 200
    assert len(registry.state.calls) == 3


async def test_a_streamed_answer_is_passed_on_whole(network: Network) -> None:
    response = await network.client.get(
        "/v1/cases/stream", headers=network.headers(network.known_organization, VIEWER)
    )

    assert response.status_code == 200
    assert response.text == "part 0;part 1;part 2;"
    assert response.headers["content-length"] == str(len(response.content))
    assert "transfer-encoding" not in response.headers


async def test_a_head_request_gets_the_headers_only(network: Network) -> None:
    headers = network.headers(network.known_organization, VIEWER)

    head = await network.client.head("/v1/cases", headers=headers)
    after = await network.client.get("/v1/cases", headers=headers)

    assert head.status_code == 200
    assert head.content == b""
    assert after.status_code == 200


async def test_a_callers_own_forwarding_headers_are_replaced_by_its_address(
    network: Network
) -> None:
    response = await network.client.get("/v1/organizations", headers={
        **network.headers(None, VIEWER), "X-Forwarded-For": "198.51.100.1",
        "Forwarded": "for=198.51.100.1", "X-Real-IP": "198.51.100.1",
    })

    assert response.status_code == 200
    [call] = network.registry.state.calls
    assert call.headers["x-forwarded-for"] == "203.0.113.7"
    assert "forwarded" not in call.headers
    assert "x-real-ip" not in call.headers


async def test_a_trusted_proxys_chain_is_passed_on_with_the_proxy_appended(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    registry = standin("registry")
    async with serve(registry) as registry_url, start_gateway(
        registry_url=registry_url, trusted_proxies="203.0.113.0/24"
    ) as gateway:
        response = await gateway.client.get("/v1/organizations", headers={
            **gateway.headers(None, VIEWER), "X-Forwarded-For": "198.51.100.1, 192.0.2.9",
            "X-Forwarded-Proto": "https",
        })

    assert response.status_code == 200
    [call] = registry.state.calls
    assert call.headers["x-forwarded-for"] == "198.51.100.1, 192.0.2.9, 203.0.113.7"
    assert call.headers["x-forwarded-proto"] == "https"


async def test_the_bulk_import_route_has_a_body_limit_of_its_own(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    registry = standin("registry")
    admin_headers = {"Content-Type": "application/zip"}

    async def streamed(size: int) -> AsyncIterator[bytes]:
        for _ in range(size // 65536):
            yield b"x" * 65536

    async with serve(registry) as registry_url, start_gateway(
        registry_url=registry_url, import_body_limit_bytes=2 * ONE_MIB
    ) as gateway:
        admin_headers |= gateway.headers(None, NETWORK_ADMIN)
        under = await gateway.client.post(
            "/v1/hsds/dataset", content=b"x" * (2 * ONE_MIB), headers=admin_headers
        )
        declared_over = await gateway.client.post(
            "/v1/hsds/dataset", content=b"x" * (2 * ONE_MIB + 1), headers=admin_headers
        )
        streamed_over = await gateway.client.post(
            "/v1/hsds/dataset", content=streamed(3 * ONE_MIB), headers=admin_headers
        )
        elsewhere = await gateway.client.post(
            "/v1/organizations", content=b"x" * (ONE_MIB + 1), headers=admin_headers
        )

    assert under.status_code == 201, under.text
    assert under.json()["body_size"] == 2 * ONE_MIB
    for refused in (declared_over, streamed_over):
        assert refused.status_code == 413
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["detail"] == f"The request body is larger than {2 * ONE_MIB} bytes."
    assert elsewhere.status_code == 413
    assert elsewhere.json()["detail"] == f"The request body is larger than {ONE_MIB} bytes."
    assert [len(call.body) for call in registry.state.calls] == [2 * ONE_MIB]
