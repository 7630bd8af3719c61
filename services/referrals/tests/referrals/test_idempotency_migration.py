"""Migration 0008 carries the Idempotency-Keys stored before it (creations' keys pointing at
their referral, transitions' keys with their first answers) into the one table of idempotent
requests, and its downgrade writes them back: a client retrying across the upgrade still gets
its first answer, not a second referral or a second transition."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import waymark_referrals
from services.referrals.tests.conftest import Flow, ProblemCheck
from waymark_kernel.messaging.inprocess import InProcessBroker
from waymark_kernel.migrations import upgrade
from waymark_kernel.settings import Settings
from waymark_kernel.testing import TestIssuer, downgrade, throwaway_database
from waymark_referrals.main import create_app

MIGRATIONS = Path(waymark_referrals.__file__).parent / "migrations"


@pytest.fixture
async def database_url(dialect: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database of this test's own: it goes down to 0007 and up again."""
    async with throwaway_database(dialect, "referrals_keys", tmp_path) as url:
        await upgrade(url, MIGRATIONS)
        yield url


async def as_0007_kept_it(url: str, key: str) -> None:
    """0007 kept a creation's key without its answer (the downgrade wrote it to both tables)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.text("DELETE FROM referrals_transition_keys WHERE key = :key"), {"key": key}
            )
    finally:
        await engine.dispose()


async def test_keys_stored_before_the_upgrade_still_answer_a_retry(
    flow: Flow, settings: Settings, issuer: TestIssuer, database_url: str, problem: ProblemCheck
) -> None:
    sender, receiver, service_id = await flow.pair()
    body = flow.referral_body(await flow.case(sender), receiver, service_id)
    creating = {**sender.headers, "Idempotency-Key": "create-1"}
    other_body = flow.referral_body(await flow.case(sender), receiver, service_id)
    kept_whole = {**sender.headers, "Idempotency-Key": "create-2"}
    created = await flow.client.post("/v1/referrals", headers=creating, json=body)
    created_too = await flow.client.post("/v1/referrals", headers=kept_whole, json=other_body)
    transitions = f"/v1/referrals/{created.json()['id']}/transitions"
    accepting = {**receiver.headers, "If-Match": '"1"', "Idempotency-Key": "accept-1"}
    acceptance = {"to": "accepted", "note": "We call her tomorrow"}
    accepted = await flow.client.post(transitions, headers=accepting, json=acceptance)
    assert (created.status_code, created_too.status_code, accepted.status_code) == (201, 201, 200)

    await downgrade(database_url, MIGRATIONS, "0007")
    await as_0007_kept_it(database_url, "create-1")
    await upgrade(database_url, MIGRATIONS)

    broker = InProcessBroker()
    await broker.start()
    app = create_app(settings, broker=broker, key_source=issuer.key_source)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
                again = await client.post("/v1/referrals", headers=creating, json=body)
                again_too = await client.post("/v1/referrals", headers=kept_whole, json=other_body)
                accepted_again = await client.post(transitions, headers=accepting, json=acceptance)
                problem(await client.post(
                    "/v1/referrals", headers=creating, json={**body, "urgency": "low"}
                ), 422, "idempotency-key-reused")
                listed = await client.get("/v1/referrals?role=sent", headers=sender.headers)
    finally:
        await broker.close()

    for replayed in (again, again_too, accepted_again):
        assert replayed.headers["Idempotent-Replayed"] == "true", replayed.text
    # A creation's key kept without its answer shows the referral as it is now, as it did.
    assert again.status_code == 201
    assert again.json()["id"] == created.json()["id"]
    assert (again.json()["status"], again.json()["version"]) == ("accepted", 2)
    assert again_too.json() == created_too.json()  # both ways down and up, its answer kept
    assert accepted_again.json() == accepted.json()
    assert len(listed.json()["items"]) == 2
