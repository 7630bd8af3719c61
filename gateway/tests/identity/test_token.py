import base64
from typing import Any
from urllib.parse import quote_plus

import jwt

from gateway.tests.conftest import Gateway, Network
from waymark_kernel.auth import NETWORK_ADMIN, TokenVerifier

PROBLEM_BASE = "https://waymark.network/problems/"


async def admin_token(network: Gateway, **form: str) -> dict[str, Any]:
    response = await network.client.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": "network-admin",
        "client_secret": network.admin_secret, **form,
    })
    assert response.status_code == 200, response.text
    token: dict[str, Any] = response.json()
    return token


async def test_the_network_admin_gets_a_bearer_token(network: Network) -> None:
    response = await network.client.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": "network-admin",
        "client_secret": network.admin_secret,
    })

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "network-admin"
    assert claims["roles"] == [NETWORK_ADMIN]
    assert claims["org"] is None
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "EdDSA"


async def test_http_basic_client_authentication_is_accepted(network: Network) -> None:
    basic = base64.b64encode(
        f"network-admin:{quote_plus(network.admin_secret)}".encode()
    ).decode()

    response = await network.client.post(
        "/v1/auth/token", data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )

    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


async def test_a_token_is_verified_with_the_published_keys(network: Network) -> None:
    token = (await admin_token(network))["access_token"]
    jwks: dict[str, Any] = (await network.client.get("/.well-known/jwks.json")).json()

    async def published_keys() -> dict[str, Any]:
        return jwks

    verifier = TokenVerifier(published_keys, issuer="waymark", audience="waymark-api")
    identity = await verifier.verify(token)

    assert [key["kty"] for key in jwks["keys"]] == ["OKP"]
    assert "d" not in jwks["keys"][0]
    assert identity.subject == "network-admin"
    assert identity.is_network_admin
    assert identity.organization_id is None


async def test_a_wrong_secret_is_an_invalid_client_problem(network: Network) -> None:
    response = await network.client.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": "network-admin", "client_secret": "wrong",
    })

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Basic")
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["type"] == PROBLEM_BASE + "invalid-client"
    assert body["status"] == 401
    assert body["title"] == "Unauthorized"


async def test_an_unknown_client_gets_the_same_answer_as_a_wrong_secret(network: Network) -> None:
    wrong_secret = await network.client.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": "network-admin", "client_secret": "x",
    })
    unknown = await network.client.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": "wm_nobody", "client_secret": "x",
    })

    assert unknown.status_code == wrong_secret.status_code == 401
    assert {**unknown.json(), "instance": None} == {**wrong_secret.json(), "instance": None}


async def test_an_unknown_grant_type_is_unsupported(network: Network) -> None:
    response = await network.client.post("/v1/auth/token", data={
        "grant_type": "password", "client_id": "network-admin",
        "client_secret": network.admin_secret,
    })

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_a_missing_grant_type_is_an_invalid_request(network: Network) -> None:
    response = await network.client.post("/v1/auth/token", data={
        "client_id": "network-admin", "client_secret": network.admin_secret,
    })

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_two_ways_of_client_authentication_at_once_is_an_invalid_request(
    network: Network
) -> None:
    basic = base64.b64encode(f"network-admin:{network.admin_secret}".encode()).decode()

    response = await network.client.post(
        "/v1/auth/token", headers={"Authorization": f"Basic {basic}"},
        data={"grant_type": "client_credentials", "client_secret": network.admin_secret},
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_a_token_request_without_credentials_is_an_invalid_client(network: Network) -> None:
    response = await network.client.post(
        "/v1/auth/token", data={"grant_type": "client_credentials"}
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_a_json_token_request_is_an_invalid_request(network: Network) -> None:
    response = await network.client.post("/v1/auth/token", json={
        "grant_type": "client_credentials", "client_id": "network-admin",
        "client_secret": network.admin_secret,
    })

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_finding_9_a_nul_in_the_client_credentials_is_a_bad_request_not_a_500(
    network: Network
) -> None:
    in_form = await network.client.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": "wm_\x00", "client_secret": "x",
    })
    basic = base64.b64encode(b"network-admin:secret%00").decode()
    in_basic = await network.client.post(
        "/v1/auth/token", data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )

    for refused in (in_form, in_basic):
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_request"
        assert "NUL" in refused.json()["error_description"]
