"""The transactional outbox and its relay: in order, marked sent only after a confirm, woken
by PostgreSQL's NOTIFY, on SQLite as on PostgreSQL; the relay and a consumer carry on after the
database drops every connection (as in a restart), losing nothing and applying nothing twice."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import col

from libs.kernel.tests.conftest import Ledger
from waymark_kernel.db import Database
from waymark_kernel.events import CloudEvent
from waymark_kernel.messaging import (
    Consumer,
    OutboxMessage,
    OutboxRelay,
    record_event,
    record_events,
)
from waymark_kernel.messaging.inprocess import InProcessBroker
from waymark_kernel.testing import POSTGRES_ADMIN_DSN


@pytest.fixture
async def broker() -> AsyncIterator[InProcessBroker]:
    # One handler at a time, so that the order events are applied in is the order of publishing.
    broker = InProcessBroker(retry_delay=0.01, concurrency=1)
    await broker.start()
    yield broker
    await broker.close()


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[None]:
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def record(database: Database, event: CloudEvent) -> CloudEvent:
    async with database.transaction() as session:
        return await record_event(session, "kernel-tests", event.type, event.typed_data())


async def outbox_state(database: Database) -> list[tuple[int, bool, int]]:
    """(version, published?, attempts) of every outbox row, oldest first."""
    async with database.transaction() as session:
        messages = (await session.execute(
            sa.select(OutboxMessage).order_by(col(OutboxMessage.created_at), col(OutboxMessage.id))
        )).scalars().all()
    return [
        (CloudEvent.model_validate_json(message.body).data["version"],
         message.published_at is not None, message.attempts)
        for message in messages
    ]


async def test_sqlite_the_relay_publishes_every_event_once_in_commit_order(
    sqlite: Database, broker: InProcessBroker, ledger: Ledger, new_event: Callable[[int], CloudEvent]
) -> None:
    consumer = Consumer("ledger", sqlite, {"referral.accepted": ledger.apply})
    await consumer.subscribe(broker, "kernel")
    relay = OutboxRelay(sqlite, broker, batch_size=7)
    events = []

    async with running(relay):
        for n in range(30):
            events.append(await record(sqlite, new_event(n)))
        async with sqlite.transaction() as session:  # several events in one transaction
            for n in range(30, 40):
                events.append(await record_event(
                    session, "kernel-tests", "referral.accepted", new_event(n).typed_data()
                ))
        rows = await ledger.wait_for(sqlite, len(events))

    assert rows == [(uuid.UUID(event.id), n) for n, event in enumerate(events)]
    assert all(published for _, published, _ in await outbox_state(sqlite))


async def test_an_event_of_a_rolled_back_transaction_is_never_published(database: Database, broker: InProcessBroker, new_event: Callable[[int], CloudEvent]) -> None:
    received: list[CloudEvent] = []

    async def remember(event: CloudEvent) -> None:
        received.append(event)

    await broker.consume("all", ["#"], remember)
    with pytest.raises(RuntimeError):  # noqa: PT012 -- the transaction must fail after its writes
        async with database.transaction() as session:
            event = new_event(1)
            await record_event(session, "kernel-tests", event.type, event.typed_data())
            raise RuntimeError("the change fails after the event was recorded")

    assert await OutboxRelay(database, broker).publish_pending() == 0
    assert await outbox_state(database) == []
    assert received == []


async def test_events_stay_in_the_outbox_while_the_broker_is_down_and_go_out_in_order_after(
    database: Database, broker: InProcessBroker, ledger: Ledger, new_event: Callable[[int], CloudEvent]
) -> None:
    consumer = Consumer("ledger", database, {"referral.accepted": ledger.apply})
    await consumer.subscribe(broker, "kernel")
    relay = OutboxRelay(database, broker)
    events = [await record(database, new_event(n)) for n in range(4)]

    await broker.close()
    assert await relay.publish_pending() == 0
    assert await relay.publish_pending() == 0

    # Nothing is marked sent without a confirm, and only the oldest event was tried: the
    # later ones wait behind it so that the order is kept.
    assert await outbox_state(database) == [
        (0, False, 2), (1, False, 0), (2, False, 0), (3, False, 0),
    ]
    assert await ledger.rows(database) == []

    await broker.start()
    assert await relay.publish_pending() == 4

    assert await outbox_state(database) == [(0, True, 2), (1, True, 0), (2, True, 0), (3, True, 0)]
    assert await ledger.rows(database) == [
        (uuid.UUID(event.id), n) for n, event in enumerate(events)
    ]


class ConfirmingSlowly:
    """A broker whose confirms take a while, counting how many publishes wait at once."""

    def __init__(self) -> None:
        self.published: list[int] = []
        self.in_flight = self.most_in_flight = 0

    async def publish(self, event: CloudEvent) -> None:
        self.published.append(event.data["version"])
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.02)
        self.in_flight -= 1


async def test_a_pass_sends_the_head_then_the_rest_of_the_batch_in_order_with_confirms_in_flight_together(
    database: Database, new_event: Callable[[int], CloudEvent]
) -> None:
    broker = ConfirmingSlowly()
    for n in range(10):
        await record(database, new_event(n))

    relay = OutboxRelay(database, broker, batch_size=10)  # type: ignore[arg-type]  # a stand-in that only publishes
    assert await relay.publish_pending() == 10

    assert broker.published == list(range(10))
    assert broker.most_in_flight == 9  # the head alone, then the nine others together
    assert all(published for _, published, _ in await outbox_state(database))


async def test_while_the_broker_is_down_commits_do_not_make_the_relay_retry_each_time(
    database: Database, broker: InProcessBroker, new_event: Callable[[int], CloudEvent], eventually: Callable[..., Awaitable[bool]]
) -> None:
    arrived: list[int] = []

    async def remember(event: CloudEvent) -> None:
        arrived.append(event.data["version"])

    await broker.consume("all", ["#"], remember)
    await broker.close()
    relay = OutboxRelay(database, broker, retry_base_seconds=5)
    async with running(relay):

        async def head_tried() -> bool:
            return (await outbox_state(database))[:1] == [(0, False, 1)]

        await record(database, new_event(0))
        assert await eventually(head_tried, timeout=5)
        for n in range(1, 11):  # each commit wakes the relay, which is backing off
            await record(database, new_event(n))
        assert [attempts for _, _, attempts in await outbox_state(database)] == [1] + [0] * 10

        await broker.start()

        async def all_arrived() -> bool:
            return arrived == list(range(11))

        assert await eventually(all_arrived, timeout=15)


async def test_events_recorded_in_bulk_wake_the_relay_and_go_out_in_order(
    database: Database, broker: InProcessBroker, new_event: Callable[[int], CloudEvent], eventually: Callable[..., Awaitable[bool]]
) -> None:
    arrived: list[int] = []

    async def remember(event: CloudEvent) -> None:
        arrived.append(event.data["version"])

    await broker.consume("bulk", ["referral.*"], remember)
    relay = OutboxRelay(database, broker, poll_seconds=30, batch_size=40)
    async with running(relay):
        await asyncio.sleep(0.1)  # its first pass is over: only the commit can wake it now
        async with database.transaction() as session:
            await record_events(session, "kernel-tests", [
                ("referral.accepted", new_event(n).typed_data()) for n in range(100)
            ])

        async def all_arrived() -> bool:
            return arrived == list(range(100))

        async def all_marked_sent() -> bool:
            return all(published for _, published, _ in await outbox_state(database))

        assert await eventually(all_arrived, timeout=10)
        assert await eventually(all_marked_sent, timeout=10)  # the batch commits after the sends


async def test_postgresql_a_commit_through_another_database_object_wakes_the_relay_through_notify(
    postgres: Database, broker: InProcessBroker, new_event: Callable[[int], CloudEvent], eventually: Callable[..., Awaitable[bool]]
) -> None:
    arrived: list[int] = []

    async def remember(event: CloudEvent) -> None:
        arrived.append(event.data["version"])

    await broker.consume("listen", ["referral.*"], remember)
    # Another process's commits: the relay's in-process wake hook is never called for them.
    elsewhere = Database(postgres.url)
    relay = OutboxRelay(postgres, broker, poll_seconds=30)
    try:
        await record(elsewhere, new_event(0))  # before the relay listens: its first pass finds it
        async with running(relay):

            async def arrived_first() -> bool:
                return arrived == [0]

            assert await eventually(arrived_first, timeout=10)
            # The first pass is over and nothing else can wake the relay for 30 s but NOTIFY.
            await record(elsewhere, new_event(1))

            async def arrived_second() -> bool:
                return arrived == [0, 1]

            assert await eventually(arrived_second, timeout=5)
    finally:
        await elsewhere.dispose()


async def test_postgresql_a_relay_makes_one_pass_for_a_commit_of_its_own_database_not_two(
    postgres: Database, broker: InProcessBroker, new_event: Callable[[int], CloudEvent], eventually: Callable[..., Awaitable[bool]]
) -> None:
    passes = 0

    class CountingRelay(OutboxRelay):
        async def _publish_batch(self) -> tuple[int, bool]:
            nonlocal passes
            passes += 1
            return await super()._publish_batch()

    arrived: list[int] = []

    async def remember(event: CloudEvent) -> None:
        arrived.append(event.data["version"])

    await broker.consume("listen", ["referral.*"], remember)
    async with running(CountingRelay(postgres, broker, poll_seconds=30)):
        assert await eventually(lambda: listening(postgres), timeout=10)
        await record(postgres, new_event(0))

        async def arrived_once() -> bool:
            return arrived == [0]

        assert await eventually(arrived_once, timeout=10)
        await asyncio.sleep(0.5)  # the commit's NOTIFY has come back by now
    # The first pass, and one for the commit: its after-commit hook woke the relay, and the
    # NOTIFY naming the same database did not wake it a second time.
    assert passes == 2


async def test_postgresql_two_relays_on_one_database_publish_each_event_once(
    postgres: Database, broker: InProcessBroker, new_event: Callable[[int], CloudEvent]
) -> None:
    received: list[str] = []

    async def remember(event: CloudEvent) -> None:
        await asyncio.sleep(0)  # let the other relay run while this one holds its batch
        received.append(event.id)

    await broker.consume("all", ["#"], remember)
    events = [await record(postgres, new_event(n)) for n in range(120)]
    first = OutboxRelay(postgres, broker, batch_size=25)
    second = OutboxRelay(postgres, broker, batch_size=25)

    published = 0
    while published < len(events):
        passes = await asyncio.gather(first.publish_pending(), second.publish_pending())
        assert sum(passes) > 0
        published += sum(passes)

    assert published == len(events)
    assert sorted(received) == sorted(event.id for event in events)


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


async def test_postgresql_after_the_database_dropped_its_connections_the_relay_listens_again_and_publishes(
    postgres: Database, broker: InProcessBroker, new_event: Callable[[int], CloudEvent], eventually: Callable[..., Awaitable[bool]], dropped: Callable[[Database], Awaitable[int]]
) -> None:
    arrived: list[int] = []

    async def remember(event: CloudEvent) -> None:
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


async def test_postgresql_a_consumer_whose_database_dropped_its_connections_applies_every_event_once(
    postgres: Database, broker: InProcessBroker, ledger: Ledger, new_event: Callable[[int], CloudEvent], dropped: Callable[[Database], Awaitable[int]]
) -> None:
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


async def test_a_stopped_relay_returns_at_once_and_leaves_what_is_unconfirmed_in_the_outbox(
    database: Database, broker: InProcessBroker, new_event: Callable[[int], CloudEvent], eventually: Callable[..., Awaitable[bool]]
) -> None:
    await broker.consume("all", ["#"], lambda event: asyncio.sleep(0))
    relay = OutboxRelay(database, broker, poll_seconds=30, retry_base_seconds=30)
    relaying = asyncio.create_task(relay.run())
    await record(database, new_event(1))

    async def published() -> bool:
        return await outbox_state(database) == [(1, True, 0)]

    assert await eventually(published, timeout=5)
    await broker.close()  # the next event is refused: the relay backs off for 30 s
    await record(database, new_event(2))

    async def refused() -> bool:
        return (await outbox_state(database))[1:] == [(2, False, 1)]

    assert await eventually(refused, timeout=5)
    started = asyncio.get_running_loop().time()
    assert await relay.stop(grace=5)
    assert asyncio.get_running_loop().time() - started < 1
    assert relaying.done()
    assert relaying.exception() is None
    assert await outbox_state(database) == [(1, True, 0), (2, False, 1)]  # for the next start
