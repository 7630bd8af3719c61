"""The drill's steady load through the gateway, and the record of what it asked and what was
committed: referrals created and moved on by several organisations, directory writes and
searches; each organisation's webhooks go to a receiver of its own."""

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from tests.e2e.flow import PERSON, created, service_body, token

COUNTRIES = ("NP", "LB", "JO", "KE", "BD", "PH")
CITIES = {"NP": "Kathmandu", "LB": "Beirut", "JO": "Amman", "KE": "Nairobi", "BD": "Dhaka", "PH": "Manila"}
TRANSITIONS = ("accepted", "in_progress")
ATTEMPTS = 60  # a write is tried again this many times, through every fault, before it is given up


@dataclass
class Answer:
    at: float  # seconds since the drill began, when the answer (or the broken connection) came
    kind: str
    status: int | None  # None: no HTTP answer (the connection broke)
    retry_after: bool
    error: str = ""  # the problem's kind of a 5xx, or what broke the connection


@dataclass
class Receiver:
    """An organisation's webhook endpoint; it can be taken down for a while."""

    organization_id: str
    runner: web.AppRunner | None = None
    site: web.TCPSite | None = None
    port: int = 0
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (webhook-id, body)
    arrived: dict[tuple[str, str], float] = field(default_factory=dict)  # first, monotonic

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> None:
        if self.runner is None:
            app = web.Application()
            app.router.add_post("/hooks", self._accept)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
        self.site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await self.site.start()
        self.port = self.runner.addresses[0][1]  # its only site: a stopped one leaves it

    async def stop(self) -> None:
        if self.site is not None:
            await self.site.stop()
            self.site = None

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _accept(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append((request.headers["webhook-id"], body))
        self.arrived.setdefault((body["data"]["referral_id"], body["type"]), time.monotonic())
        return web.Response(status=204)


@dataclass
class Organisation:
    id: str
    country: str
    headers: dict[str, str]
    service_id: str
    categories: list[str]
    receiver: Receiver
    cases: list[str] = field(default_factory=list)


@dataclass
class Load:
    client: httpx.AsyncClient
    began: float
    answers: list[Answer] = field(default_factory=list)
    # (referral id, event type) -> the organisations it is about, once committed
    committed: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    committed_at: dict[tuple[str, str], float] = field(default_factory=dict)  # monotonic
    given_up: Counter[str] = field(default_factory=Counter)
    last_success: dict[str, float] = field(default_factory=dict)

    async def call(
        self, kind: str, method: str, path: str, **options: object
    ) -> httpx.Response | None:
        try:
            response = await self.client.request(method, path, **options)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            self.answers.append(Answer(time.monotonic() - self.began, kind, None, False, type(exc).__name__))
            return None
        at = time.monotonic() - self.began  # when it was answered: a fault may begin meanwhile
        problem = ""
        if response.status_code >= 500:
            problem = response.json().get("type", "").rsplit("/", 1)[-1] if response.headers.get(
                "content-type", "").endswith("json") else response.text[:40]
        self.answers.append(Answer(
            at, kind, response.status_code, "retry-after" in response.headers, problem,
        ))
        if response.status_code < 500:
            self.last_success[kind] = time.monotonic() - self.began
        return response

    def commit(
        self, key: tuple[str, str], sender: "Organisation", receiver: "Organisation"
    ) -> None:
        self.committed[key] = (sender.id, receiver.id)
        self.committed_at[key] = time.monotonic()

    async def refer(self, sender: Organisation, receiver: Organisation, case_id: str) -> str | None:
        """A referral, created once whatever breaks on the way (one Idempotency-Key)."""
        key = uuid.uuid4().hex
        body = {
            "case_id": case_id, "receiver_org_id": receiver.id, "service_id": receiver.service_id,
            "migration_stage": "destination", "categories": receiver.categories, "urgency": "normal",
            "reason": "Unpaid wages", "shared_fields": ["given_name"],
        }
        for _ in range(ATTEMPTS):
            response = await self.call("referral.create", "POST", "/v1/referrals", json=body,
                                       headers={**sender.headers, "Idempotency-Key": key})
            if response is not None and response.status_code == 201:
                referral_id: str = response.json()["id"]
                self.commit((referral_id, "referral.requested"), sender, receiver)
                return referral_id
            await asyncio.sleep(pause(response))
        self.given_up["referral.create"] += 1
        return None

    async def move(
        self, referral_id: str, sender: Organisation, receiver: Organisation, to: str
    ) -> bool:
        """The receiver moves the referral on; an answer lost on the way is found out by
        reading the referral again."""
        path = f"/v1/referrals/{referral_id}"
        for _ in range(ATTEMPTS):
            seen = await self.call("referral.read", "GET", path, headers=receiver.headers)
            if seen is None or seen.status_code != 200:
                await asyncio.sleep(pause(seen))
                continue
            if seen.json()["status"] == to:
                self.commit((referral_id, f"referral.{to}"), sender, receiver)
                return True
            moved = await self.call(
                "referral.transition", "POST", f"{path}/transitions", json={"to": to, "note": "drill"},
                headers={**receiver.headers, "If-Match": seen.headers["ETag"]},
            )
            if moved is not None and moved.status_code == 200:
                self.commit((referral_id, f"referral.{to}"), sender, receiver)
                return True
            if moved is None or moved.status_code not in (409, 412):
                await asyncio.sleep(pause(moved))
        self.given_up["referral.transition"] += 1
        return False

    async def referrals(
        self, organisations: list[Organisation], index: int, stop: asyncio.Event
    ) -> None:
        sender = organisations[index]
        turn = 0
        while not stop.is_set():
            turn += 1
            receiver = organisations[(index + turn) % len(organisations)]
            if receiver is sender:
                continue
            referral_id = await self.refer(sender, receiver, sender.cases[turn % len(sender.cases)])
            if referral_id:
                for to in TRANSITIONS:
                    if not await self.move(referral_id, sender, receiver, to):
                        break
            await asyncio.sleep(0.2)

    async def directory(self, organisations: list[Organisation], stop: asyncio.Event) -> None:
        turn = 0
        while not stop.is_set():
            turn += 1
            owner = organisations[turn % len(organisations)]
            if turn % 3 == 0:
                await self.call("service.create", "POST", "/v1/services", headers=owner.headers,
                                json=service_body(owner.id, owner.country, CITIES[owner.country]))
            await self.call("service.search", "GET", "/v1/services", headers=owner.headers,
                            params={"q": "support desk", "limit": 10})
            await asyncio.sleep(0.3)


def pause(response: httpx.Response | None) -> float:
    if response is not None and response.headers.get("retry-after", "").isdigit():
        return min(5.0, float(response.headers["retry-after"]))
    return 0.5


async def organisations_for_the_drill(
    client: httpx.AsyncClient, admin: dict[str, str], count: int
) -> list[Organisation]:
    """`count` verified organisations, each with an API client, a service taking referrals,
    a webhook subscription to its own receiver and cases with consent to any of the countries."""
    organisations = []
    for index in range(count):
        country = COUNTRIES[index % len(COUNTRIES)]
        organisation = await created(await client.post("/v1/organizations", headers=admin, json={
            "name": f"Drill partner {index + 1}", "type": "cso", "country": country,
            "languages": ["en"], "verified": True,
        }))
        credentials = await created(await client.post(
            f"/v1/organizations/{organisation['id']}/clients", headers=admin,
            json={"name": "drill", "roles": ["org_admin", "caseworker"]},
        ))
        headers = await token(client, credentials["client_id"], credentials["client_secret"])
        service = await created(await client.post(
            "/v1/services", headers=headers, json=service_body(organisation["id"], country, CITIES[country]),
        ))
        receiver = Receiver(organisation["id"])
        await receiver.start()
        await created(await client.post("/v1/subscriptions", headers=headers, json={
            "url": receiver.url, "event_types": ["referral.*"], "description": "drill",
        }))
        joined = Organisation(organisation["id"], country, headers, service["id"], service["categories"], receiver)
        for _ in range(3):
            case = await created(await client.post(
                "/v1/cases", headers=headers, json={"person": PERSON, "vulnerabilities": ["domestic_worker"]},
            ))
            consent = await client.put(f"/v1/cases/{case['id']}/consent", headers=headers, json={
                "legal_basis": "consent", "scope": {"countries": list(COUNTRIES)},
                "given_at": "2026-11-20T10:00:00Z", "method": "verbal", "notes": "drill",
            })
            assert consent.status_code == 200, consent.text
            joined.cases.append(case["id"])
        organisations.append(joined)
    return organisations
