"""Deleting a deactivated person's account: the gateway keeps a tombstone with nothing personal
in it and has the referrals service replace her names by a pseudonym, retrying until it can."""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlmodel import select

from gateway.tests.conftest import StartGateway, serving, standin_service
from waymark_gateway.people.models import PendingErasure, Person, RecoveryCode
from waymark_kernel.signing import SigningKey
from waymark_kernel.testing import free_port

from .conftest import KNOWN_ORGANIZATION, OTHER_ORGANIZATION, People


def referrals_with_erasure() -> FastAPI:
    """The referrals stand-in, answering erasures as the referrals service does (a pseudonym,
    the same on a repeat) while `state.available`, and 503 otherwise."""
    app = standin_service("referrals")
    app.state.available = True
    app.state.erasures = []

    @app.post("/internal/people/{person_id}/erasure")
    async def erase(person_id: uuid.UUID, request: Request) -> JSONResponse:
        app.state.erasures.append((person_id, request.headers.get("authorization", "")))
        if not app.state.available:
            return JSONResponse({"status": 503}, status_code=503)
        pseudonym = "person-" + person_id.hex[:8]
        return JSONResponse({"person_id": str(person_id), "pseudonym": pseudonym, "names_erased": 2})

    return app


def erasures_of(referrals: FastAPI, person_id: str) -> list[str]:
    """The tokens of the erasure requests the stand-in received for this person."""
    return [token for erased, token in referrals.state.erasures if str(erased) == person_id]


@contextlib.asynccontextmanager
async def gateways(
    start_gateway: Any, count: int = 1, **settings: Any
) -> AsyncIterator[tuple[FastAPI, list[People]]]:
    """`count` gateways on one database, before a referrals stand-in that erases."""
    referrals, registry = referrals_with_erasure(), standin_service("registry")
    key = SigningKey.generate()
    async with serving(registry) as registry_url, serving(referrals) as referrals_url:
        urls = {"registry_url": registry_url, "referrals_url": referrals_url,
                "notifications_url": f"http://127.0.0.1:{free_port()}",
                "erasure_retry_seconds": 0.2, **settings}
        async with contextlib.AsyncExitStack() as stack:
            started = [await stack.enter_async_context(start_gateway(signing_key=key, **urls))
                       for _ in range(count)]
            yield referrals, [People(gateway) for gateway in started]


async def tombstone(people: People, person_id: str) -> tuple[Person, PendingErasure | None, int]:
    """What the gateway's database keeps of her: her row, her pending erasure, her codes."""
    async with people.gateway.app.state.database.transaction() as session:
        person = await session.get(Person, uuid.UUID(person_id))
        pending = await session.get(PendingErasure, uuid.UUID(person_id))
        codes = (await session.execute(
            select(RecoveryCode).where(RecoveryCode.person_id == uuid.UUID(person_id))
        )).all()
    if person is None:
        raise LookupError(person_id)
    return person, pending, len(codes)


async def erased(people: People, person_id: str) -> tuple[Person, PendingErasure | None, int]:
    """Her tombstone once her erasure is done: the deletion tries it at once, but a retry round
    of the gateway's may have claimed it first and still be asking the referrals service."""
    started = time.monotonic()
    while (await tombstone(people, person_id))[1] is not None:
        assert time.monotonic() - started < 5, "the erasure was not done"
        await asyncio.sleep(0.05)
    return await tombstone(people, person_id)  # her row read after the erasure's commit


async def test_a_deleted_persons_account_is_erased_and_her_names_pseudonymised(
    start_gateway: StartGateway
) -> None:
    async with gateways(start_gateway) as (referrals, (people,)):
        person = await people.enrol(name="Rania Khoury")
        csrf = await people.signed_in(person)
        minted = await people.client.post("/v1/auth/session/token", headers={"X-CSRF-Token": csrf})
        bearer = {"Authorization": f"Bearer {minted.json()['access_token']}"}
        path, admin = f"/v1/people/{person.person['id']}", people.admin()

        active = await people.client.delete(path, headers=admin)
        assert active.status_code == 409
        assert active.json()["type"].endswith("/person-active")
        assert "deactivate" in active.json()["detail"].lower()
        assert (await people.client.get("/v1/cases")).status_code == 200  # nothing changed
        assert (await people.client.patch(path, json={"active": False}, headers=admin)).status_code == 200

        deleted = await people.client.delete(path, headers=admin)
        assert deleted.status_code == 204
        [token] = erasures_of(referrals, person.person["id"])
        claims = jwt.decode(token.split()[1], options={"verify_signature": False})
        assert claims["roles"] == ["network_admin"]
        assert claims["exp"] - claims["iat"] <= 60

        row, pending, codes = await erased(people, person.person["id"])
        assert pending is None
        assert codes == 0
        assert row.pseudonym == "person-" + uuid.UUID(person.person["id"]).hex[:8]
        assert row.name_sealed == b""
        assert row.email_sealed == b""
        assert row.totp_secret_sealed is None
        assert person.email not in row.email_fingerprint

        assert (await people.client.get("/v1/cases")).status_code == 401  # her session
        async with people.browser() as api:
            assert (await api.get("/v1/cases", headers=bearer)).status_code == 401  # her token
        assert (await people.sign_in(person, code=person.code(1))).status_code == 401
        assert person.person["id"] not in {item["id"] for item in await people.people_of()}
        audited = [(e["action"], e["actor"]) for e in await people.audit()
                   if e["target"] == person.person["id"]]
        assert audited[0][0] == "person_deleted"
        assert audited[0][1].startswith("test-")
        assert (await people.client.delete(path, headers=admin)).status_code == 404
        assert (await people.client.patch(path, json={"active": True}, headers=admin)).status_code == 404

        again = await people.enrol(email=person.email, name="Rania K.")  # her address is free
        assert again.person["id"] != person.person["id"]
        await people.signed_in(again)


async def test_only_an_admin_of_her_organisation_deletes_her(start_gateway: StartGateway) -> None:
    async with gateways(start_gateway) as (referrals, (people,)):
        person = await people.enrol()
        path = f"/v1/people/{person.person['id']}"
        await people.client.patch(path, json={"active": False}, headers=people.admin())
        for headers in (
            people.admin(OTHER_ORGANIZATION),
            people.gateway.headers(KNOWN_ORGANIZATION, "caseworker"),
        ):
            assert (await people.client.delete(path, headers=headers)).status_code == 404
        assert (await people.client.delete(f"/v1/people/{uuid.uuid4()}",
                                           headers=people.admin())).status_code == 404
        assert erasures_of(referrals, person.person["id"]) == []
        network_admin = people.gateway.headers(None, "network_admin")
        assert (await people.client.delete(path, headers=network_admin)).status_code == 204
        assert len(erasures_of(referrals, person.person["id"])) == 1


async def test_an_erasure_the_referrals_service_missed_is_retried_until_done(
    start_gateway: StartGateway
) -> None:
    async with gateways(start_gateway, count=2) as (referrals, (first, second)):
        person = await first.enrol()
        path = f"/v1/people/{person.person['id']}"
        await first.client.patch(path, json={"active": False}, headers=first.admin())
        referrals.state.available = False
        assert (await first.client.delete(path, headers=first.admin())).status_code == 204
        row, pending, _ = await tombstone(first, person.person["id"])
        assert pending is not None
        assert row.pseudonym is None
        assert row.deleted_at is not None
        assert (await second.client.delete(path, headers=second.admin())).status_code == 404

        await asyncio.sleep(0.5)  # a few failed retries, backing off
        failed = len(erasures_of(referrals, person.person["id"]))
        assert failed >= 2
        referrals.state.available = True
        started = time.monotonic()
        while (await tombstone(first, person.person["id"]))[1] is not None:
            assert time.monotonic() - started < 10, "the erasure was not retried"
            await asyncio.sleep(0.1)
        row, _, _ = await tombstone(second, person.person["id"])
        assert row.pseudonym == "person-" + uuid.UUID(person.person["id"]).hex[:8]
        await asyncio.sleep(1.0)  # both replicas keep looking: neither asks again
        assert len(erasures_of(referrals, person.person["id"])) == failed + 1
