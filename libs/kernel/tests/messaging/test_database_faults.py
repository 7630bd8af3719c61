"""The database drops every connection (as in a restart): the relay and the consumer carry on,
no event is lost and none is applied twice."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from waymark_kernel.db import Database
from waymark_kernel.messaging import Consumer, OutboxRelay, record_event
from waymark_kernel.messaging.inprocess import InProcessBroker
from waymark_kernel.testing import POSTGRES_ADMIN_DSN


async def listening(database: Database) -> bool:
    """Whether a connection to `database` has LISTENed for the outbox's notifications."""
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        return bool(await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
            make_url(database.url).database,
        ))
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[None]:
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def broker() -> AsyncIterator[InProcessBroker]:
    broker = InProcessBroker(retry_delay=0.05)
    await broker.start()
    yield broker
    await broker.close()


async def test_after_the_database_dropped_its_connections_the_relay_listens_again_and_publishes(
    postgres, broker, new_event, eventually, dropped
):
    arrived: list[int] = []

    async def remember(event) -> None:
        arrived.append(event.data["version"])

    await broker.consume("all", ["#"], remember)
    # Polling every 30 s: within the test only a LISTEN opened again can wake the relay.
    relay = OutboxRelay(postgres, broker, poll_seconds=30)
    async with running(relay):
        async with postgres.transaction() as session:
            await record_event(session, "kernel-tests", "referral.accepted", new_event(0).typed_data())

        async def first_arrived() -> bool:
            return arrived == [0]

        assert await eventually(first_arrived, timeout=10)
        assert await dropped(postgres) >= 2  # the relay's LISTEN and its pool
        assert await eventually(lambda: listening(postgres), timeout=10)
        elsewhere = Database(postgres.url)  # another process's commit
        try:
            async with elsewhere.transaction() as session:
                await record_event(session, "kernel-tests", "referral.accepted", new_event(1).typed_data())

            async def both_arrived() -> bool:
                return arrived == [0, 1]

            assert await eventually(both_arrived, timeout=10)
        finally:
            await elsewhere.dispose()


async def test_a_consumer_whose_database_dropped_its_connections_applies_every_event_once(
    postgres, broker, ledger, new_event, dropped
):
    service = Database(postgres.url)  # the consumer's process; the test reads through its own
    consumer = Consumer("ledger", service, {"referral.accepted": ledger.apply})
    await consumer.subscribe(broker, "kernel")
    events = [new_event(n) for n in range(40)]
    try:
        for event in events[:20]:
            await broker.publish(event)  # returns once the consumer settled it

        await dropped(postgres)
        await postgres.engine.dispose()  # only the consumer meets the dropped connections
        for event in events[20:]:
            await broker.publish(event)

        assert await broker.dead_letters("kernel.ledger") == []
        assert sorted(await ledger.rows(postgres), key=lambda row: row[1]) == [
            (uuid.UUID(event.id), n) for n, event in enumerate(events)
        ]
    finally:
        await service.dispose()
