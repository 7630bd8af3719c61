"""Sessions across gateway replicas, their lifetimes, the cookie's name over HTTPS, the limits
on failed sign-ins, and invitations sent by email."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import httpx
import jwt
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlmodel import col, select

from gateway.tests.conftest import Network, Serve, Standin, StartGateway
from waymark_gateway.sessions.models import StoredSession
from waymark_gateway.sessions.service import HTTPS_COOKIE, PLAIN_COOKIE
from waymark_kernel.clock import as_utc
from waymark_kernel.testing import free_port

from .conftest import People, replicas


async def _deactivation_reaches_the_other_replica(first: People, second: People) -> float:
    person = await first.enrol()
    csrf = await first.signed_in(person)
    cookie = first.client.cookies[PLAIN_COOKIE]
    minted = await first.client.post("/v1/auth/session/token", headers={"X-CSRF-Token": csrf})
    bearer = {"Authorization": f"Bearer {minted.json()['access_token']}"}
    second.client.cookies.set(PLAIN_COOKIE, cookie)
    assert (await second.client.get("/v1/cases")).status_code == 200  # the session is shared
    assert (await second.client.get("/v1/cases", headers=bearer)).status_code == 200

    deactivated = await first.client.patch(
        f"/v1/people/{person.person['id']}", json={"active": False}, headers=first.admin())
    assert deactivated.status_code == 200
    started = time.monotonic()
    assert (await second.client.get("/v1/cases")).status_code == 401  # its session: at once
    async with second.browser() as api:
        while (await api.get("/v1/cases", headers=bearer)).status_code != 401:
            assert time.monotonic() - started < 5, "the other replica still accepts her token"
            await asyncio.sleep(0.1)
    return time.monotonic() - started


async def test_a_deactivation_ends_her_session_and_token_on_another_replica_within_5_s(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    async with replicas(start_gateway, standin, serve) as (first, second):
        await _deactivation_reaches_the_other_replica(first, second)


async def test_replicas_sharing_redis_share_sessions_and_deactivations(
    start_gateway: StartGateway, standin: Standin, serve: Serve, redis_url: str,
    redis_prefix: str,
) -> None:
    async with replicas(
        start_gateway, standin, serve, redis_url=redis_url, redis_key_prefix=redis_prefix
    ) as (first, second):
        await _deactivation_reaches_the_other_replica(first, second)
        person = await first.enrol()
        await first.signed_in(person)
        session_id = first.client.cookies[PLAIN_COOKIE]
        async with second.browser() as other:
            other.cookies.set(PLAIN_COOKIE, session_id)
            assert (await other.get("/v1/auth/session")).json()["person"]["id"] == person.person["id"]
        stored = await first.gateway.app.state.sessions.store.redis.keys(f"{redis_prefix}session:*")
        assert stored
        assert all(session_id.encode() not in key for key in stored)


@pytest.mark.parametrize("store", ["database", "redis"])
async def test_a_session_ends_after_its_idle_time_and_at_its_absolute_end(
    start_gateway: StartGateway, standin: Standin, serve: Serve, redis_url: str,
    redis_prefix: str, store: str,
) -> None:
    shared = {"redis_url": redis_url, "redis_key_prefix": redis_prefix} if store == "redis" else {}
    async with replicas(start_gateway, standin, serve, session_idle_minutes=1 / 60, **shared) as (idle, _):
        person = await idle.enrol()
        await idle.signed_in(person)
        assert (await idle.client.get("/v1/cases")).status_code == 200
        await asyncio.sleep(1.3)
        assert (await idle.client.get("/v1/cases")).status_code == 401
    async with replicas(start_gateway, standin, serve, session_max_hours=2 / 3600, **shared) as (busy, _):
        person = await busy.enrol()
        await busy.signed_in(person)
        for _ in range(4):  # activity keeps an idle clock going, never the absolute one
            assert (await busy.client.get("/v1/cases")).status_code == 200
            await asyncio.sleep(0.3)
        await asyncio.sleep(1.0)
        assert (await busy.client.get("/v1/cases")).status_code == 401


async def test_by_default_a_session_ends_after_30_idle_minutes_or_12_hours(
    people: People, network: Network
) -> None:
    person = await people.enrol()
    await people.signed_in(person)
    person_id = uuid.UUID(person.person["id"])

    async def idle_since(minutes: float) -> int:
        """Her session's last use moved back by `minutes`; the status of her next request."""
        async with network.app.state.database.transaction() as session:
            stored = (await session.execute(select(StoredSession).where(
                col(StoredSession.person_id) == person_id))).scalar_one()
            stored.last_seen_at = datetime.now(UTC) - timedelta(minutes=minutes)
            lasts = as_utc(stored.expires_at) - datetime.now(UTC)
        assert timedelta(hours=12) - timedelta(minutes=1) < lasts <= timedelta(hours=12)
        return (await network.client.get("/v1/auth/session")).status_code

    assert await idle_since(29) == 200
    assert await idle_since(31) == 401


async def test_over_https_the_cookie_is_a_secure_host_only_one(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    async with replicas(start_gateway, standin, serve, trusted_proxies="203.0.113.0/24") as (gateway, _):
        person = await gateway.enrol()
        behind_tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.20"}
        signed_in = await gateway.client.post("/v1/auth/sessions", headers=behind_tls, json={
            "email": person.email, "password": person.password, "code": person.code()})
        assert signed_in.status_code == 201
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith(f"{HTTPS_COOKIE}=")
        assert "Secure" in cookie
        assert "HttpOnly" in cookie
        assert "Path=/" in cookie
        assert "Domain" not in cookie
        assert "SameSite=lax" in cookie
        session_id = signed_in.cookies[HTTPS_COOKIE]
        async with gateway.browser() as browser:
            browser.cookies.set(HTTPS_COOKIE, session_id)
            assert (await browser.get("/v1/auth/session", headers=behind_tls)).status_code == 200
            # Over plain HTTP the __Host- cookie is not the session's: a downgrade is no way in.
            assert (await browser.get("/v1/auth/session")).status_code == 401
        entries = [e for e in await gateway.audit() if e["target"] == person.person["id"]]
        assert entries[0]["address"] == "198.51.100.20"


async def test_finding_2_repeated_failures_lock_the_account_from_that_address_only(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    async with replicas(
        start_gateway, standin, serve, sign_in_failure_limit_per_account="3/hour",
        sign_in_failure_limit_per_address="5/hour", trusted_proxies="203.0.113.0/24",
    ) as (gateway, _):
        person = await gateway.enrol()
        attacker = {"X-Forwarded-For": "198.51.100.66"}
        wrong = {"email": person.email, "password": "Not-The-Right-One-99", "code": "000000"}
        statuses = [
            (await gateway.client.post("/v1/auth/sessions", json=wrong, headers=attacker)).status_code
            for _ in range(4)
        ]
        assert statuses == [401, 401, 401, 429]
        right = {"email": person.email, "password": person.password, "code": person.code()}
        locked = await gateway.client.post("/v1/auth/sessions", json=right, headers=attacker)
        assert locked.status_code == 429
        assert "Retry-After" in locked.headers
        assert "locked from this address for a while" in locked.json()["detail"]
        unknown = {**wrong, "email": "nobody-at-all@example.org"}
        for _ in range(2):  # the address's own budget: 5 failures, whatever the email
            await gateway.client.post("/v1/auth/sessions", json=unknown, headers=attacker)
        assert (await gateway.client.post(
            "/v1/auth/sessions", json=unknown, headers=attacker)).status_code == 429
        elsewhere = await gateway.client.post(
            "/v1/auth/sessions", json=right, headers={"X-Forwarded-For": "192.0.2.10"})
        assert elsewhere.status_code == 201  # she is not locked out from her own desk


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(  # the name aiosmtpd calls
        self, _server: SMTP, _session: Session, envelope: Envelope
    ) -> str:
        assert isinstance(envelope.content, bytes)  # the controller does not decode the data
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


async def test_with_an_email_server_the_invitation_is_emailed_not_returned(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    port = free_port()
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        async with replicas(start_gateway, standin, serve, smtp_host="127.0.0.1", smtp_port=port,
                            public_url="https://waymark.example.org") as (gateway, _):
            invited = await gateway.invite("Rana.Haddad@example.org")
            assert invited.status_code == 201
            assert invited.json()["accept_url"] is None
            [(recipients, message)] = mailbox.messages
            assert recipients == ["rana.haddad@example.org"]
            link = next(line for line in message.get_content().splitlines() if "/invitations/" in line)
            assert link.startswith("https://waymark.example.org/invitations/")
            token = link.rsplit("/", 1)[1]
            shown = await gateway.client.get(f"/v1/invitations/{token}")
            assert shown.status_code == 200
            assert shown.json()["email"] == "rana.haddad@example.org"
        async with replicas(start_gateway, standin, serve, smtp_host="127.0.0.1", smtp_port=1) as (down, _):
            count = len(await down.people_of())
            failed = await down.invite("someone.else@example.org")
            assert failed.status_code == 502
            assert failed.json()["type"].endswith("/email-not-sent")
            listed = await down.client.get(
                f"/v1/organizations/{down.gateway.known_organization}/invitations",
                headers=down.admin())
            assert "someone.else@example.org" not in [i["email"] for i in listed.json()["items"]]
            assert len(await down.people_of()) == count
    finally:
        controller.stop()


async def test_a_person_token_for_the_api_carries_her_identity(
    people: People, network: Network
) -> None:
    person = await people.enrol(name="Nadia Karimi")
    csrf = await people.signed_in(person)
    minted = await network.client.post("/v1/auth/session/token", headers={"X-CSRF-Token": csrf})
    assert minted.status_code == 200
    assert minted.headers["cache-control"] == "no-store"
    body = minted.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    async with httpx.AsyncClient(transport=network.client._transport, base_url="http://gateway") as api:
        response = await api.get("/v1/cases", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert response.status_code == 200
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["kind"] == "person"
    assert claims["name"] == "Nadia Karimi"
    assert claims["sub"] == person.person["id"]
    assert claims["org"] == person.person["organization_id"]
    assert claims["roles"] == ["caseworker"]
    assert "mfa" in claims["amr"]
    by_bearer = await network.client.post(
        "/v1/auth/session/token", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert by_bearer.status_code == 400  # a token does not mint tokens: only a session does


async def test_without_its_redis_the_gateway_refuses_sessions_rather_than_trusting_cookies(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    async with replicas(start_gateway, standin, serve, redis_url="redis://127.0.0.1:1/0",
                        redis_timeout_seconds=0.2) as (gateway, _):
        person = await gateway.enrol()
        refused = await gateway.sign_in(person)
        assert refused.status_code == 503
        assert refused.json()["type"].endswith("/session-store-unavailable")
        gateway.client.cookies.set(PLAIN_COOKIE, "a-session-id-nobody-can-check")
        assert (await gateway.client.get("/v1/cases")).status_code == 503
