"""An external OpenID Connect issuer, played by a local fake with its own RSA keys and discovery
document: its tokens are accepted instead of the built-in issuer's, and the services get a
gateway-issued token in their place."""

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from gateway.tests.conftest import Gateway, Serve, Standin, StartGateway
from waymark_kernel.auth import CASEWORKER, TokenVerifier

AUDIENCE = "waymark-partners"


class FakeIssuer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.app = FastAPI()
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)

        @self.app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return {"issuer": url, "jwks_uri": f"{url}/keys", "id_token_signing_alg_values_supported": ["RS256"]}

        @self.app.get("/keys")
        async def keys() -> dict[str, Any]:
            return {"keys": [{**public, "kid": "fake-1", "use": "sig", "alg": "RS256"}]}

    def settings(self) -> dict[str, Any]:
        """The gateway settings that make this the network's issuer."""
        return {
            "oidc_discovery_url": f"{self.url}/.well-known/openid-configuration",
            "oidc_audience": AUDIENCE, "oidc_organization_claim": "tenant",
            "oidc_roles_claim": "realm_access.roles",
        }

    def token(
        self, *, key: rsa.RSAPrivateKey | str | None = None, kid: str = "fake-1",
        algorithm: str = "RS256", **overrides: Any,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300,
            "tenant": str(ORGANIZATION), "realm_access": {"roles": [CASEWORKER, "offline_access"]},
            **overrides,
        }
        return jwt.encode(claims, key or self.key, algorithm=algorithm, headers={"kid": kid})


ORGANIZATION = uuid.UUID("6f1c2a52-6a4e-4f57-9a53-2f4c1f0e5a01")

# the fake issuer, a gateway trusting it, and the referrals stand-in behind the gateway
External = tuple[FakeIssuer, Gateway, FastAPI]


@pytest.fixture
async def external(
    start_gateway: StartGateway, standin: Standin, serve: Serve, unused_port: int
) -> AsyncIterator[External]:
    fake = FakeIssuer(f"http://127.0.0.1:{unused_port}")
    referrals = standin("referrals")
    async with (
        serve(fake.app, unused_port),
        serve(referrals) as referrals_url,
        start_gateway(referrals_url=referrals_url, **fake.settings()) as gateway,
    ):
        yield fake, gateway, referrals


async def test_an_external_token_is_accepted_and_the_service_gets_a_gateway_token(
    external: External
) -> None:
    fake, gateway, referrals = external

    response = await gateway.client.get(
        "/v1/cases", headers={"Authorization": f"Bearer {fake.token()}"}
    )

    assert response.status_code == 200, response.text
    [call] = referrals.state.calls
    forwarded = call.headers["authorization"].removeprefix("Bearer ")
    jwks: dict[str, Any] = (await gateway.client.get("/.well-known/jwks.json")).json()

    async def gateway_keys() -> dict[str, Any]:
        return jwks

    identity = await TokenVerifier(
        gateway_keys, issuer="waymark", audience="waymark-api"
    ).verify(forwarded)
    assert identity.subject == "oidc:alice"
    assert identity.organization_id == ORGANIZATION
    assert identity.roles == {CASEWORKER}
    claims = jwt.decode(forwarded, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] <= 60


async def test_bad_external_tokens_are_refused_before_the_service(external: External) -> None:
    fake, gateway, referrals = external
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    unsigned = jwt.encode(
        {"iss": fake.url, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300},
        "", algorithm="none",
    )
    tokens = {
        "wrong audience": fake.token(aud="someone-else"),
        "unpublished key": fake.token(key=stranger),
        "unknown key id": fake.token(kid="never-published"),
        "expired": fake.token(iat=now - 600, exp=now - 300),
        "alg none": unsigned,
        "shared secret": fake.token(key="a-guessable-secret-of-32-bytes!!", algorithm="HS256"),
        "not an organisation id": fake.token(tenant="acme"),
    }

    statuses = {
        reason: (await gateway.client.get(
            "/v1/cases", headers={"Authorization": f"Bearer {token}"}
        )).status_code
        for reason, token in tokens.items()
    }

    assert statuses == dict.fromkeys(tokens, 401)
    assert referrals.state.calls == []


async def test_the_built_in_token_endpoint_and_its_clients_are_replaced(external: External) -> None:
    fake, gateway, _ = external

    token = await gateway.client.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": "network-admin",
        "client_secret": gateway.admin_secret,
    })
    clients = await gateway.client.get(
        f"/v1/organizations/{ORGANIZATION}/clients",
        headers={"Authorization": f"Bearer {fake.token(realm_access={'roles': ['org_admin']})}"},
    )
    document = (await gateway.client.get("/openapi.json")).json()

    assert token.status_code == clients.status_code == 404
    assert token.headers["content-type"] == "application/problem+json"
    problem = token.json()
    assert problem["type"] == "https://waymark.network/problems/built-in-issuer-replaced"
    assert f"{fake.url}/.well-known/openid-configuration" in problem["detail"]
    assert "access_token" not in problem
    assert clients.json()["type"] == problem["type"]
    assert not {"/v1/auth/token", "/v1/organizations/{organization_id}/clients"} & set(
        document["paths"]
    )
    assert "/.well-known/jwks.json" in document["paths"]  # the services still need its keys
    assert document["components"]["securitySchemes"]["openIdConnect"] == {
        "type": "openIdConnect",
        "openIdConnectUrl": f"{fake.url}/.well-known/openid-configuration",
    }
    assert "clientCredentials" not in document["components"]["securitySchemes"]
    assert "/v1/auth/token" not in document["info"]["description"]


async def test_built_in_tokens_are_refused_at_the_gateway(external: External) -> None:
    fake, gateway, referrals = external
    admin = gateway.signing_key.issue(
        subject="network-admin", organization_id=None, roles=["network_admin"],
        issuer="waymark", audience="waymark-api", ttl_seconds=300,
    )

    built_in = await gateway.client.get(
        "/v1/cases", headers=gateway.headers(ORGANIZATION, CASEWORKER)
    )
    as_admin = await gateway.client.get("/v1/cases", headers={"Authorization": f"Bearer {admin}"})
    external_token = await gateway.client.get(
        "/v1/cases", headers={"Authorization": f"Bearer {fake.token()}"}
    )

    assert built_in.status_code == as_admin.status_code == 401
    assert "OpenID Connect issuer" in built_in.json()["detail"]
    assert external_token.status_code == 200
    assert len(referrals.state.calls) == 1  # only the external token's call reached the service


async def test_with_an_external_issuer_the_gateway_needs_no_admin_secret(
    start_gateway: StartGateway, standin: Standin, serve: Serve, unused_port: int
) -> None:
    fake = FakeIssuer(f"http://127.0.0.1:{unused_port}")
    async with (
        serve(fake.app, unused_port),
        serve(standin("referrals")) as referrals_url,
        start_gateway(
            admin_client_secret=None, referrals_url=referrals_url, **fake.settings()
        ) as gateway,
    ):
        response = await gateway.client.get(
            "/v1/cases", headers={"Authorization": f"Bearer {fake.token()}"}
        )

    assert response.status_code == 200
    with pytest.raises(RuntimeError, match="WAYMARK_ADMIN_CLIENT_SECRET"):
        async with start_gateway(admin_client_secret=None):
            pass  # the built-in issuer cannot start without its admin's secret
