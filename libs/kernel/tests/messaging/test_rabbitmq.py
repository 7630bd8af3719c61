"""RabbitMqBroker and the idempotent Consumer on a real RabbitMQ and PostgreSQL."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import aio_pika
from sqlalchemy.ext.asyncio import AsyncSession

from libs.kernel.tests.conftest import Ledger, Rabbit
from waymark_kernel.db import Database
from waymark_kernel.events import CloudEvent, WebhookTest
from waymark_kernel.messaging import Consumer
from waymark_kernel.testing import RABBITMQ_URL


async def test_postgresql_a_published_event_reaches_the_bound_consumer_once(
    rabbit: Rabbit, postgres: Database, ledger: Ledger, new_event: Callable[[int], CloudEvent]
) -> None:
    broker = await rabbit.broker()
    consumer = Consumer("ledger", postgres, {"referral.accepted": ledger.apply})
    await consumer.subscribe(broker, rabbit.queue_prefix)
    rabbit.queue("ledger")
    event = new_event(7)

    await broker.publish(event)

    assert await ledger.wait_for(postgres, 1) == [(uuid.UUID(event.id), 7)]


async def test_postgresql_the_same_event_published_twice_is_applied_once(
    rabbit: Rabbit, postgres: Database, ledger: Ledger, new_event: Callable[[int], CloudEvent], eventually: Callable[..., Awaitable[bool]]
) -> None:
    broker = await rabbit.broker(retry_delay=0.05)
    consumer = Consumer("ledger", postgres, {"referral.accepted": ledger.apply})
    settled: list[str] = []

    async def handle_and_count(event: CloudEvent) -> None:
        await consumer.handle(event)
        settled.append(event.id)

    # What Consumer.subscribe does, plus a count of the deliveries that were settled.
    await broker.consume(rabbit.queue("ledger"), list(consumer.handlers), handle_and_count)
    events = [new_event(n) for n in range(20)]
    for event in events:
        # Back to back, so the two copies are usually handled concurrently (prefetch 32).
        await broker.publish(event)
        await broker.publish(event)

    async def every_copy_settled() -> bool:
        return len(settled) == 2 * len(events)

    assert await eventually(every_copy_settled)
    rows = await ledger.rows(postgres)
    assert sorted(rows) == sorted((uuid.UUID(event.id), event.data["version"]) for event in events)


async def test_postgresql_a_message_that_always_fails_is_dead_lettered_after_the_delivery_limit(
    rabbit: Rabbit, postgres: Database, ledger: Ledger, new_event: Callable[[int], CloudEvent], eventually: Callable[..., Awaitable[bool]]
) -> None:
    broker = await rabbit.broker(delivery_limit=3, retry_delay=0.01)
    runs: list[str] = []

    async def always_fails(session: AsyncSession, event: CloudEvent) -> None:
        runs.append(event.id)
        await ledger.apply(session, event)
        raise RuntimeError("this handler never succeeds")

    await Consumer("failing", postgres, {"referral.accepted": always_fails}).subscribe(
        broker, rabbit.queue_prefix
    )
    queue = rabbit.queue("failing")
    event = new_event(1)
    await broker.publish(event)
    dead: list[CloudEvent] = []

    async def dead_lettered() -> bool:
        dead.extend(await broker.dead_letters(queue))
        return bool(dead)

    assert await eventually(dead_lettered)
    assert dead == [event]
    # A quorum queue dead-letters a message once it has been returned MORE than
    # x-delivery-limit times: the first delivery plus 3 redeliveries, 4 runs in all.
    assert runs == [event.id] * 4
    assert await ledger.rows(postgres) == []  # every failed run rolled its effect back
    assert await broker.dead_letters(queue) == []  # draining removed it


async def test_postgresql_an_unreadable_message_is_dead_lettered_unhandled_and_does_not_block_the_drain(
    rabbit: Rabbit, postgres: Database, ledger: Ledger, new_event: Callable[[int], CloudEvent], eventually: Callable[..., Awaitable[bool]]
) -> None:
    broker = await rabbit.broker(delivery_limit=1, retry_delay=0.01)
    runs: list[str] = []

    async def always_fails(session: AsyncSession, event: CloudEvent) -> None:
        runs.append(event.id)
        raise RuntimeError("this handler never succeeds")

    await Consumer("failing", postgres, {"referral.accepted": always_fails}).subscribe(
        broker, rabbit.queue_prefix
    )
    queue = rabbit.queue("failing")
    async with await aio_pika.connect(RABBITMQ_URL) as connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(rabbit.exchange)
        await exchange.publish(aio_pika.Message(b"not a cloud event"), "referral.accepted")
    event = new_event(1)
    await broker.publish(event)  # dead-lettered after the unreadable message
    dead: list[CloudEvent] = []

    async def dead_lettered() -> bool:
        dead.extend(await broker.dead_letters(queue))
        return bool(dead)

    assert await eventually(dead_lettered)
    assert dead == [event]
    assert runs == [event.id] * 2


async def test_an_event_no_queue_is_bound_to_is_still_confirmed(rabbit: Rabbit) -> None:
    broker = await rabbit.broker()
    event = CloudEvent.of("kernel-tests", "webhook.test", WebhookTest(
        subscription_id=uuid.uuid4(), organization_id=uuid.uuid4(),
    ))

    await broker.publish(event)  # returns: an unroutable event must not block an outbox


async def test_postgresql_a_consumer_receives_only_the_event_types_it_handles(
    rabbit: Rabbit, postgres: Database, ledger: Ledger, new_event: Callable[[int], CloudEvent]
) -> None:
    broker = await rabbit.broker()
    await Consumer("ledger", postgres, {"referral.accepted": ledger.apply}).subscribe(
        broker, rabbit.queue_prefix
    )
    rabbit.queue("ledger")
    ignored = CloudEvent.of("kernel-tests", "webhook.test", WebhookTest(
        subscription_id=uuid.uuid4(), organization_id=uuid.uuid4(),
    ))
    wanted = new_event(3)

    await broker.publish(ignored)
    await broker.publish(wanted)

    assert await ledger.wait_for(postgres, 1) == [(uuid.UUID(wanted.id), 3)]


async def test_postgresql_closing_lets_the_handler_in_hand_finish_and_settle_its_message(
    rabbit: Rabbit, postgres: Database, ledger: Ledger, new_event: Callable[[int], CloudEvent]
) -> None:
    first = await rabbit.broker()
    handling, release = asyncio.Event(), asyncio.Event()

    async def slow(session: AsyncSession, event: CloudEvent) -> None:
        handling.set()
        await release.wait()
        await ledger.apply(session, event)

    await Consumer("ledger", postgres, {"referral.accepted": slow}).subscribe(
        first, rabbit.queue_prefix
    )
    rabbit.queue("ledger")
    event = new_event(5)
    await first.publish(event)
    await asyncio.wait_for(handling.wait(), timeout=10)

    closing = asyncio.create_task(first.close(grace=10))
    await asyncio.sleep(0.3)
    assert not closing.done()  # waits for the handler in hand
    release.set()
    await asyncio.wait_for(closing, timeout=10)
    assert await ledger.rows(postgres) == [(uuid.UUID(event.id), 5)]

    # Acknowledged before the connection closed: a consumer started now gets nothing again.
    again: list[str] = []
    second = await rabbit.broker()

    async def remember(event: CloudEvent) -> None:
        again.append(event.id)

    await second.consume(f"{rabbit.queue_prefix}.ledger", ["referral.accepted"], remember)
    await asyncio.sleep(1)
    assert again == []
