"""Faults on the way through RabbitMQ: dropped connections, a consumer killed before it
acks, a broker that is unreachable. Every event still arrives, and is applied once."""

import asyncio
import contextlib
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col

from libs.kernel.tests.conftest import Ledger, Rabbit
from waymark_kernel.db import Database
from waymark_kernel.events import CloudEvent
from waymark_kernel.messaging import (
    Consumer,
    OutboxMessage,
    OutboxRelay,
    ProcessedEvent,
    record_event,
)
from waymark_kernel.testing import RABBITMQ_URL

KILLED_CONSUMER = Path(__file__).with_name("killed_consumer.py")


async def test_postgresql_events_survive_broker_connections_dropped_while_publishing(
    rabbit: Rabbit, postgres: Database, ledger: Ledger, new_event: Callable[[int], CloudEvent]
) -> None:
    # Through a proxy, so only this test's connections drop: the broker is shared.
    proxy = TcpProxy()
    await proxy.start()
    publisher = await rabbit.broker(proxy.url, publish_timeout=2.0)
    subscriber = await rabbit.broker(proxy.url, prefetch=16)
    await Consumer("ledger", postgres, {"referral.accepted": ledger.apply}).subscribe(
        subscriber, rabbit.queue_prefix
    )
    rabbit.queue("ledger")
    relay = OutboxRelay(postgres, publisher, poll_seconds=0.2, batch_size=20)
    relay_task = asyncio.create_task(relay.run())
    events = []
    try:
        for n in range(200):
            async with postgres.transaction() as session:
                events.append(await record_event(
                    session, "kernel-tests", "referral.accepted", new_event(n).typed_data()
                ))
            if n in (60, 130):
                # Both sides lose their connections while events are still being recorded.
                proxy.drop_connections()
            await asyncio.sleep(0.005)
        rows = await ledger.wait_for(postgres, len(events), timeout=60)
    finally:
        relay_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay_task
        await proxy.stop()

    assert len(rows) == 200
    assert sorted(rows) == sorted((uuid.UUID(e.id), e.data["version"]) for e in events)
    async with postgres.transaction() as session:
        unpublished = await session.scalar(
            sa.select(sa.func.count()).where(col(OutboxMessage.published_at).is_(None))
        )
    assert unpublished == 0


async def test_postgresql_an_event_whose_consumer_was_killed_before_acking_is_redelivered_and_applied_once(
    rabbit: Rabbit, postgres: Database, ledger: Ledger, new_event: Callable[[int], CloudEvent]
) -> None:
    queue = rabbit.queue("ledger")
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(KILLED_CONSUMER), postgres.url, RABBITMQ_URL, rabbit.exchange,
        rabbit.queue_prefix, "ledger",
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    assert await asyncio.wait_for(child.stdout.readline(), timeout=60) == b"subscribed\n"
    publisher = await rabbit.broker()
    event = new_event(5)

    await publisher.publish(event)

    # The child's handler wrote the effect in a transaction it never committed, then died.
    assert await asyncio.wait_for(child.wait(), timeout=30) == -signal.SIGKILL
    await Consumer("ledger", postgres, {"referral.accepted": ledger.apply}).subscribe(
        publisher, rabbit.queue_prefix
    )
    assert await ledger.wait_for(postgres, 1) == [(uuid.UUID(event.id), 5)]
    async with postgres.transaction() as session:
        processed = (await session.execute(sa.select(col(ProcessedEvent.event_id)))).scalars().all()
    assert processed == [uuid.UUID(event.id)]
    assert await publisher.dead_letters(queue) == []


class TcpProxy:
    """A loopback TCP forwarder to RabbitMQ that the test can take down and bring back."""

    def __init__(self, target_port: int = 5672) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def drop_connections(self) -> None:
        """Cut every open connection, as a network fault would; new ones are still accepted."""
        for writer in list(self._writers):
            writer.transport.abort()

    async def stop(self) -> None:
        assert self._server is not None, "start() first"
        self._server.close()
        self.drop_connections()
        await self._server.wait_closed()

    async def _forward(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )
        self._writers |= {client_writer, upstream_writer}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.transport.abort()
                self._writers.discard(writer)

        await asyncio.gather(
            pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer)
        )


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


async def test_postgresql_the_outbox_keeps_events_while_rabbitmq_is_unreachable_then_publishes_in_order(
    rabbit: Rabbit, postgres: Database, new_event: Callable[[int], CloudEvent], eventually: Callable[..., Awaitable[bool]]
) -> None:
    proxy = TcpProxy()
    await proxy.start()
    publisher = await rabbit.broker(proxy.url, publish_timeout=1.0)
    subscriber = await rabbit.broker()
    received: list[int] = []

    async def record(event: CloudEvent) -> None:
        received.append(event.data["version"])

    async def publisher_connected() -> bool:  # what /readyz reports
        try:
            await publisher.ping()
        except ConnectionError:
            return False
        return True

    async def publisher_disconnected() -> bool:
        return not await publisher_connected()

    async def all_published() -> bool:
        await relay.publish_pending()
        return all(published for _, published, _ in await outbox_state(postgres))

    async def all_received() -> bool:
        return len(received) >= 5

    await subscriber.consume(rabbit.queue("order"), ["referral.*"], record)
    relay = OutboxRelay(postgres, publisher)
    async with postgres.transaction() as session:
        for n in range(5):
            event = new_event(n)
            await record_event(session, "kernel-tests", event.type, event.typed_data())
    try:
        await proxy.stop()
        assert await eventually(publisher_disconnected)

        assert await relay.publish_pending() == 0
        assert await relay.publish_pending() == 0
        # Nothing is marked sent without a confirm; only the head of the line was tried.
        assert await outbox_state(postgres) == [
            (0, False, 2), (1, False, 0), (2, False, 0), (3, False, 0), (4, False, 0),
        ]

        await proxy.start()  # the same port: RabbitMQ is reachable again
        assert await eventually(publisher_connected)
        assert await eventually(all_published)
        assert await eventually(all_received)
        assert received == [0, 1, 2, 3, 4]
    finally:
        await proxy.stop()
