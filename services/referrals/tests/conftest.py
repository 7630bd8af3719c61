"""The referrals service on a throw-away database (each test on SQLite and on PostgreSQL) with an
in-process broker.

The directory read-model is fed the way production feeds it: registry events published on the
broker reach the service's consumer and handlers."""

import base64
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from fastapi import FastAPI

import waymark_referrals
from waymark_kernel.events import (
    CloudEvent,
    EventData,
    OrganizationChanged,
    ServiceChanged,
    ServiceDeleted,
)
from waymark_kernel.messaging.inprocess import InProcessBroker
from waymark_kernel.settings import RunMode, Settings
from waymark_kernel.testing import TestIssuer, shared_database, unique_name
from waymark_referrals.main import create_app

MIGRATIONS = Path(waymark_referrals.__file__).parent / "migrations"
REGISTRY = "waymark/registry"
Json = dict[str, Any]  # a JSON object, as the API sends and answers it


@pytest.fixture(scope="session")
def database_url(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated database per dialect for the run; every test works with organisations of
    its own."""
    folder = tmp_path_factory.mktemp("referrals")
    with shared_database(dialect, "referrals_test", folder, MIGRATIONS) as url:
        yield url


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        mode=RunMode.distributed, referrals_database_url=database_url,
        encryption_key=base64.b64encode(os.urandom(32)).decode(),
        queue_prefix=unique_name("referrals_test"), outbox_poll_seconds=0.2,
    )


@pytest.fixture
async def broker() -> AsyncIterator[InProcessBroker]:
    broker = InProcessBroker(retry_delay=0.05)
    await broker.start()
    yield broker
    await broker.close()


@pytest.fixture
async def app(
    settings: Settings, broker: InProcessBroker, issuer: TestIssuer
) -> AsyncIterator[FastAPI]:
    app = create_app(settings, broker=broker, key_source=issuer.key_source)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://referrals") as client:
        yield client


@dataclass
class Org:
    id: uuid.UUID
    country: str
    type: str
    headers: dict[str, str]
    viewer: dict[str, str]


@dataclass
class Network:
    """Organisations and services announced as the registry announces them."""

    broker: InProcessBroker
    queue: str
    issuer: TestIssuer

    async def publish(self, event_type: str, data: EventData) -> CloudEvent:
        event = CloudEvent.of(REGISTRY, event_type, data)
        await self.publish_event(event)
        return event

    async def publish_event(self, event: CloudEvent) -> None:
        await self.broker.publish(event)  # returns once the consumer has settled it
        assert await self.broker.dead_letters(self.queue) == [], "a registry event was rejected"

    async def organization(self, country: str = "NP", type: str = "national_society") -> Org:
        organization_id = uuid.uuid4()
        await self.publish("organization.created", OrganizationChanged(
            organization_id=organization_id, name=f"Org {organization_id.hex[:6]}", type=type,
            country=country, verified=True,
        ))
        return Org(
            organization_id, country, type,
            headers=self.issuer.headers(organization_id, "caseworker"),
            viewer=self.issuer.headers(organization_id, "viewer"),
        )

    async def service(self, organization: Org, **changes: Any) -> uuid.UUID:
        service_id = uuid.uuid4()
        data = ServiceChanged(**{
            "service_id": service_id, "organization_id": organization.id, "status": "active",
            "accepts_referrals": True, "countries": [organization.country],
            "categories": ["legal_aid"], **changes,
        })
        await self.publish("service.created", data)
        return service_id

    async def delete_service(self, organization: Org, service_id: uuid.UUID) -> None:
        await self.publish("service.deleted", ServiceDeleted(
            service_id=service_id, organization_id=organization.id
        ))


@pytest.fixture
def network(
    app: FastAPI, broker: InProcessBroker, settings: Settings, issuer: TestIssuer
) -> Network:
    return Network(broker, f"{settings.queue_prefix}.referrals", issuer)


PERSON = {
    "given_name": "Sunita", "family_name": "Tamang-Gurung", "date_of_birth": "1994-03-17",
    "sex": "female", "nationality": "NP", "languages": ["ne", "en"], "phone": "+9779812345678",
    "current_country": "LB", "safe_contact": "Only on Sundays; the employer reads messages",
}
CONSENT = {
    "legal_basis": "consent", "scope": [{"countries": ["LB", "JO"]}],
    "given_at": "2026-01-20T10:00:00Z", "method": "verbal", "notes": "explained in Nepali",
}


@dataclass
class Flow:
    """Steps most tests take: a case with consent, a referral, a transition."""

    client: httpx.AsyncClient
    network: Network

    async def case(
        self, org: Org, person: Json | None = None, consent: Json | None = CONSENT
    ) -> Json:
        response = await self.client.post("/v1/cases", headers=org.headers, json={
            "person": person or PERSON, "vulnerabilities": ["domestic_worker"],
        })
        assert response.status_code == 201, response.text
        if consent is None:
            created: Json = response.json()
            return created
        recorded = await self.client.put(
            f"/v1/cases/{response.json()['id']}/consent", headers=org.headers, json=consent
        )
        assert recorded.status_code == 200, recorded.text
        with_consent: Json = recorded.json()
        return with_consent

    async def pair(self) -> tuple[Org, Org, uuid.UUID]:
        """A sender in Nepal, a receiver in Lebanon and the receiver's service."""
        sender = await self.network.organization("NP")
        receiver = await self.network.organization("LB", type="cso")
        return sender, receiver, await self.network.service(receiver)

    def referral_body(
        self, case: Json, receiver: Org, service_id: uuid.UUID | None, **changes: Any
    ) -> Json:
        return {
            "case_id": case["id"], "receiver_org_id": str(receiver.id),
            "service_id": str(service_id) if service_id else None,
            "migration_stage": "destination", "categories": ["legal_aid"], "urgency": "high",
            "reason": "Unpaid wages, passport withheld",
            "shared_fields": ["given_name", "phone", "safe_contact"], **changes,
        }

    async def refer(
        self, sender: Org, receiver: Org, service_id: uuid.UUID | None, case: Json | None = None,
        **changes: Any,
    ) -> Json:
        case = case or await self.case(sender)
        response = await self.client.post(
            "/v1/referrals", headers=sender.headers,
            json=self.referral_body(case, receiver, service_id, **changes),
        )
        assert response.status_code == 201, response.text
        referral: Json = response.json()
        return referral

    async def move(self, org: Org, referral: Json, to: str, **body: Any) -> httpx.Response:
        current = await self.client.get(f"/v1/referrals/{referral['id']}", headers=org.headers)
        assert current.status_code == 200, current.text
        return await self.client.post(
            f"/v1/referrals/{referral['id']}/transitions",
            headers={**org.headers, "If-Match": current.headers["ETag"]}, json={"to": to, **body},
        )


@pytest.fixture
def flow(client: httpx.AsyncClient, network: Network) -> Flow:
    return Flow(client, network)


def assert_problem(response: httpx.Response, status: int, kind: str | None = None) -> Json:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: Json = response.json()
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    if kind is not None:
        assert problem["type"].endswith(f"/{kind}"), problem
    return problem


class ProblemCheck(Protocol):
    def __call__(
        self, response: httpx.Response, status: int, kind: str | None = None
    ) -> Json: ...


@pytest.fixture
def problem() -> ProblemCheck:
    """`problem(response, status, kind)` asserts an RFC 9457 problem and returns its body."""
    return assert_problem


@pytest.fixture
def person() -> Json:
    return dict(PERSON)


@pytest.fixture
def consent() -> Json:
    return dict(CONSENT)



def waymark_command(*arguments: str) -> subprocess.CompletedProcess[str]:
    """`waymark *arguments` as an operator runs it, with the test's environment (its `WAYMARK_`
    settings); its output is captured."""
    return subprocess.run(
        [sys.executable, "-m", "waymark_cli", *arguments],
        check=False, capture_output=True, text=True, timeout=120,
    )
