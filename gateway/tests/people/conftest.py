"""People's accounts through a real gateway: an org admin invites, the invitee accepts, signs in."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.tests.conftest import Gateway, Network, Serve, Standin, StartGateway
from waymark_gateway.people import totp
from waymark_kernel.signing import SigningKey

from .fake_provider import FakeProvider

PASSWORD = "Amber-Lantern-Quietly-42"
KNOWN_ORGANIZATION = uuid.UUID("6f1c2a52-6a4e-4f57-9a53-2f4c1f0e5a01")
OTHER_ORGANIZATION = uuid.UUID("0b7e4c3a-1d2e-4f5a-8b9c-0d1e2f3a4b5c")


@dataclass
class Enrolled:
    email: str
    password: str
    secret: str | None
    person: dict[str, Any]
    recovery_codes: list[str]

    def code(self, offset_steps: int = 0) -> str:
        if self.secret is None:
            raise ValueError("this person has no second factor")
        return totp.code_at(self.secret, totp.current_step() + offset_steps)


class People:
    """Invitations and sign-ins against one gateway, as an org admin (a bearer token) would."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.client: httpx.AsyncClient = gateway.client

    def admin(self, organization_id: uuid.UUID = KNOWN_ORGANIZATION) -> dict[str, str]:
        return self.gateway.headers(organization_id, "org_admin")

    async def invite(
        self, email: str, roles: list[str] | None = None,
        organization_id: uuid.UUID = KNOWN_ORGANIZATION,
    ) -> httpx.Response:
        return await self.client.post(
            f"/v1/organizations/{organization_id}/invitations",
            json={"email": email, "roles": roles or ["caseworker"]},
            headers=self.admin(organization_id),
        )

    async def invitation_token(self, email: str, roles: list[str] | None = None,
                               organization_id: uuid.UUID = KNOWN_ORGANIZATION) -> str:
        response = await self.invite(email, roles, organization_id)
        assert response.status_code == 201, response.text
        accept_url: str = response.json()["accept_url"]
        return accept_url.rsplit("/", 1)[1]

    async def enrol(
        self, email: str | None = None, roles: list[str] | None = None,
        organization_id: uuid.UUID = KNOWN_ORGANIZATION, name: str = "Amina Haddad",
    ) -> Enrolled:
        email = email or f"caseworker-{uuid.uuid4().hex[:8]}@example.org"
        token = await self.invitation_token(email, roles, organization_id)
        accepted = await self.client.post(
            f"/v1/invitations/{token}", json={"name": name, "password": PASSWORD}
        )
        assert accepted.status_code == 201, accepted.text
        body = accepted.json()
        return Enrolled(
            email, PASSWORD, body["totp"]["secret"] if body["totp"] else None, body["person"],
            body["recovery_codes"],
        )

    async def sign_in(
        self, person: Enrolled, code: str | None = None, **changes: Any
    ) -> httpx.Response:
        body = {"email": person.email, "password": person.password,
                "code": person.code() if code is None and person.secret else code, **changes}
        return await self.client.post("/v1/auth/sessions", json=body)


    async def signed_in(
        self, person: Enrolled, client: httpx.AsyncClient | None = None, step_offset: int = 0
    ) -> str:
        """Signs `person` in on `client` (the gateway's by default); returns the CSRF token.
        A code is accepted once: a second sign-in within 30 s takes the next step's code."""
        client = client or self.client
        body = {"email": person.email, "password": person.password,
                "code": person.code(step_offset) if person.secret else None}
        response = await client.post("/v1/auth/sessions", json=body)
        assert response.status_code == 201, response.text
        csrf_token: str = response.json()["csrf_token"]
        return csrf_token

    def browser(self) -> httpx.AsyncClient:
        """Another browser: its own cookie jar, the same gateway."""
        return httpx.AsyncClient(transport=self.client._transport, base_url="http://gateway")

    async def audit(self, organization_id: uuid.UUID = KNOWN_ORGANIZATION) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"/v1/organizations/{organization_id}/audit", params={"limit": 100},
            headers=self.admin(organization_id),
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def people_of(
        self, organization_id: uuid.UUID = KNOWN_ORGANIZATION
    ) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"/v1/organizations/{organization_id}/people", params={"limit": 100},
            headers=self.admin(organization_id),
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@contextlib.asynccontextmanager
async def replicas(
    start_gateway: StartGateway, standin: Standin, serve: Serve, **settings: Any
) -> AsyncIterator[tuple[People, People]]:
    """Two gateways on one database (and Redis, when given), signing with one key."""
    key = SigningKey.generate()
    async with serve(standin("registry")) as registry, serve(standin("referrals")) as referrals:
        urls = {"registry_url": registry, "referrals_url": referrals, **settings}
        async with start_gateway(signing_key=key, **urls) as first, start_gateway(
            signing_key=key, **urls
        ) as second:
            yield People(first), People(second)


@pytest.fixture
async def people(network: Network) -> People:
    return People(network)


@pytest.fixture
async def provider(serve: Serve, unused_port: int) -> AsyncIterator[FakeProvider]:
    """A National Society's OpenID Connect provider, signing people in to KNOWN_ORGANIZATION."""
    fake = FakeProvider(f"http://127.0.0.1:{unused_port}", KNOWN_ORGANIZATION)
    async with serve(fake.app, unused_port):
        yield fake
