"""Two replicas of the referrals service, both given a new key-encryption key, re-wrap the old
records at the same moment (each replica's sweep does): every record ends under the new key,
none is taken by both at once on PostgreSQL, and every case reads back with the new key only."""

import asyncio
import base64
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

import waymark_referrals
from services.referrals.tests.conftest import Flow, Network
from waymark_kernel.settings import Settings
from waymark_kernel.testing import TestIssuer, shared_database
from waymark_referrals import rotation
from waymark_referrals.crypto import cipher_from_settings
from waymark_referrals.main import create_app

MIGRATIONS = Path(waymark_referrals.__file__).parent / "migrations"
SEALED_TABLES = [table.model.__tablename__ for table in rotation.SEALED_TABLES]


@pytest.fixture(scope="module")
def database_url(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of its own: the other tests' records stay under their key."""
    folder = tmp_path_factory.mktemp("referrals_rotation_replicas")
    with shared_database(dialect, "referrals_rotation_replicas", folder, MIGRATIONS) as url:
        yield url


async def records_by_key(app: FastAPI) -> dict[str, int]:
    async with app.state.database.transaction() as session:
        rows = (await session.execute(text(" UNION ALL ".join(
            f"SELECT key_id FROM {table} WHERE key_id IS NOT NULL"
            for table in SEALED_TABLES
        )))).scalars().all()
    return {key_id: rows.count(key_id) for key_id in set(rows)}


async def settled(read: Callable[[], Awaitable[dict[str, int]]], expected: dict[str, int]) -> bool:
    """Whether `read` gives `expected` within 10 s."""
    for _ in range(100):
        if await read() == expected:
            return True
        await asyncio.sleep(0.1)
    return await read() == expected


async def rewrap_until_done(app: FastAPI) -> int:
    rewrapped = 0
    while True:
        async with app.state.database.transaction() as session:
            found = await rotation.rewrap_batch(session, app.state.cipher, batch_size=2)
        if not found:
            return rewrapped
        rewrapped += found
        await asyncio.sleep(0)


async def test_two_replicas_rewrapping_together_move_every_record_to_the_new_key_once(
    app: FastAPI, flow: Flow, settings: Settings, network: Network, issuer: TestIssuer
) -> None:
    sender, receiver, service_id = await flow.pair()
    cases = [await flow.case(sender, person={"given_name": f"Person {n}"}) for n in range(6)]
    for case in cases[:3]:
        await flow.refer(sender, receiver, service_id, case=case)
    old = cipher_from_settings(settings).key_id
    under_old = (await records_by_key(app))[old]
    rotated = settings.model_copy(update={
        "encryption_key": base64.b64encode(os.urandom(32)).decode(),
        "encryption_previous_keys": [settings.encryption_key],
    })
    new = cipher_from_settings(rotated).key_id
    one = create_app(rotated, broker=network.broker, key_source=issuer.key_source)
    two = create_app(rotated, broker=network.broker, key_source=issuer.key_source)

    async with one.router.lifespan_context(one), two.router.lifespan_context(two):
        # Each replica's own sweep may take a share too, at its start.
        first, second = await asyncio.gather(rewrap_until_done(one), rewrap_until_done(two))
        # A batch a start-up sweep still holds is skipped, not waited for: it commits soon after.
        assert await settled(lambda: records_by_key(one), {new: under_old})
        assert first + second <= under_old  # no record re-wrapped twice
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=two), base_url="http://referrals"
        ) as client:
            for case in cases:
                read = await client.get(f"/v1/cases/{case['id']}", headers=sender.headers)
                assert read.status_code == 200
                assert read.json()["person"] == case["person"]
