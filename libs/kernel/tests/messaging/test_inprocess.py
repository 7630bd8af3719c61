"""The in-process broker keeps RabbitMQ's guarantees: confirm after settle, retries, dead
letters, consumers that survive a restart; with the Consumer, duplicates have no effect."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from libs.kernel.tests.conftest import Ledger
from waymark_kernel.db import Database
from waymark_kernel.events import CloudEvent
from waymark_kernel.messaging import Consumer, PublishFailed
from waymark_kernel.messaging.inprocess import InProcessBroker


@pytest.fixture
async def broker() -> AsyncIterator[InProcessBroker]:
    broker = InProcessBroker(delivery_limit=3, retry_delay=0.01)
    await broker.start()
    yield broker
    await broker.close()


async def test_publish_is_confirmed_only_once_the_consumer_has_settled_the_event(broker: InProcessBroker, new_event: Callable[[int], CloudEvent]) -> None:
    handling, release = asyncio.Event(), asyncio.Event()
    handled: list[str] = []

    async def slow_handler(event: CloudEvent) -> None:
        handling.set()
        await release.wait()
        handled.append(event.id)

    await broker.consume("slow", ["referral.*"], slow_handler)
    event = new_event(1)
    publishing = asyncio.create_task(broker.publish(event))
    await asyncio.wait_for(handling.wait(), timeout=5)

    assert not publishing.done()
    release.set()
    await asyncio.wait_for(publishing, timeout=5)
    assert handled == [event.id]


async def test_an_event_without_a_bound_consumer_is_confirmed_at_once(broker: InProcessBroker, new_event: Callable[[int], CloudEvent]) -> None:
    await broker.publish(new_event(1))


async def test_a_message_that_always_fails_is_retried_then_dead_lettered(broker: InProcessBroker, new_event: Callable[[int], CloudEvent]) -> None:
    runs: list[str] = []

    async def always_fails(event: CloudEvent) -> None:
        runs.append(event.id)
        raise RuntimeError("this handler never succeeds")

    await broker.consume("failing", ["referral.accepted"], always_fails)
    event = new_event(1)

    await broker.publish(event)  # dead-lettering settles the event too

    assert runs == [event.id] * 4  # the first delivery and delivery_limit (3) redeliveries
    assert await broker.dead_letters("failing") == [event]
    assert await broker.dead_letters("failing") == []


async def test_sqlite_a_handler_that_recovers_applies_the_event_once_and_nothing_is_dead_lettered(
    broker: InProcessBroker, sqlite: Database, ledger: Ledger, new_event: Callable[[int], CloudEvent]
) -> None:
    failures_left = 2

    async def flaky(session: AsyncSession, event: CloudEvent) -> None:
        nonlocal failures_left
        await ledger.apply(session, event)
        if failures_left:
            failures_left -= 1
            raise ConnectionError("a dependency is briefly down")

    consumer = Consumer("flaky", sqlite, {"referral.accepted": flaky})
    await consumer.subscribe(broker, "kernel")
    event = new_event(4)

    await broker.publish(event)

    assert await ledger.rows(sqlite) == [(uuid.UUID(event.id), 4)]
    assert await broker.dead_letters("kernel.flaky") == []


async def test_sqlite_a_duplicate_event_is_applied_once(broker: InProcessBroker, sqlite: Database, ledger: Ledger, new_event: Callable[[int], CloudEvent]) -> None:
    consumer = Consumer("ledger", sqlite, {"referral.accepted": ledger.apply})
    await consumer.subscribe(broker, "kernel")
    event, other = new_event(1), new_event(2)

    await broker.publish(event)
    await broker.publish(event)
    # Concurrent copies race to record the processed id; the others wait for it and stop.
    await asyncio.gather(broker.publish(other), broker.publish(other), broker.publish(other))

    assert await ledger.rows(sqlite) == [(uuid.UUID(event.id), 1), (uuid.UUID(other.id), 2)]
    assert await broker.dead_letters("kernel.ledger") == []


async def test_sqlite_closing_fails_unsettled_publishes_and_a_restart_brings_the_consumers_back(
    broker: InProcessBroker, sqlite: Database, ledger: Ledger, new_event: Callable[[int], CloudEvent]
) -> None:
    first_run = asyncio.Event()

    async def stalls_the_first_time(session: AsyncSession, event: CloudEvent) -> None:
        await ledger.apply(session, event)
        if not first_run.is_set():
            first_run.set()
            await asyncio.Event().wait()  # still running when the broker closes

    await Consumer("ledger", sqlite, {"referral.accepted": stalls_the_first_time}).subscribe(
        broker, "kernel"
    )
    event = new_event(9)
    publishing = asyncio.create_task(broker.publish(event))
    await asyncio.wait_for(first_run.wait(), timeout=5)

    await broker.close(grace=0.1)  # the stalled handler is given up on

    with pytest.raises(PublishFailed):
        await publishing
    with pytest.raises(PublishFailed):
        await broker.publish(event)
    assert await ledger.rows(sqlite) == []  # the interrupted run's effect was rolled back

    await broker.start()
    await broker.publish(event)  # what an outbox does with an event that was not confirmed

    assert await ledger.rows(sqlite) == [(uuid.UUID(event.id), 9)]


async def test_an_event_published_before_the_start_waits_for_every_consumer_bound_until_then(
    new_event: Callable[[int], CloudEvent],
) -> None:
    """Standalone mode starts the broker once every service has bound its queue: a relay
    publishing at once must not have its events confirmed to the queues bound so far only."""
    broker = InProcessBroker()
    early: list[str] = []
    late: list[str] = []
    await broker.consume("early", ["referral.*"], lambda event: _append(early, event))
    event = new_event(1)
    publishing = asyncio.create_task(broker.publish(event))
    await asyncio.sleep(0.1)
    await broker.consume("late", ["referral.*"], lambda event: _append(late, event))
    assert not publishing.done()

    await broker.start()
    await asyncio.wait_for(publishing, timeout=5)
    assert (early, late) == ([event.id], [event.id])
    await broker.close()


async def _append(handled: list[str], event: CloudEvent) -> None:
    handled.append(event.id)


async def test_sqlite_closing_lets_the_handlers_running_finish_and_their_publishes_be_confirmed(
    broker: InProcessBroker, sqlite: Database, ledger: Ledger, new_event: Callable[[int], CloudEvent]
) -> None:
    handling, release = asyncio.Event(), asyncio.Event()

    async def slow(session: AsyncSession, event: CloudEvent) -> None:
        handling.set()
        await release.wait()
        await ledger.apply(session, event)

    await Consumer("ledger", sqlite, {"referral.accepted": slow}).subscribe(broker, "kernel")
    event = new_event(3)
    publishing = asyncio.create_task(broker.publish(event))
    await asyncio.wait_for(handling.wait(), timeout=5)

    closing = asyncio.create_task(broker.close(grace=5))
    await asyncio.sleep(0.2)
    assert not closing.done()  # waits for the handler in hand
    release.set()
    await asyncio.wait_for(closing, timeout=5)

    await publishing  # confirmed: the outbox marks it sent
    assert await ledger.rows(sqlite) == [(uuid.UUID(event.id), 3)]
