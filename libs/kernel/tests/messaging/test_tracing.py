"""The trace context of a change goes into its outbox row, onto the published CloudEvent
(`traceparent`, `tracestate`) and to the consumer's span, its child, through RabbitMQ as through
the in-process broker; with tracing off nothing of it is written or sent."""

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Protocol

import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.db import Database
from waymark_kernel.events import CloudEvent
from waymark_kernel.messaging import Broker, Consumer, OutboxMessage, OutboxRelay, record_event
from waymark_kernel.messaging.inprocess import InProcessBroker
from waymark_kernel.messaging.rabbitmq import RabbitMqBroker
from waymark_kernel.tracing import span, start_tracing, stop_tracing

Eventually = Callable[[Callable[[], Awaitable[bool]]], Awaitable[bool]]


class RabbitNames(Protocol):
    """The conftest's `rabbit`: this test's own exchange and queues."""

    queue_prefix: str

    def queue(self, name: str) -> str: ...

    async def broker(self) -> RabbitMqBroker: ...


INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"  # the caller's request


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    start_tracing("kernel-tests", spans)
    yield spans
    stop_tracing()


@pytest.fixture(params=["in-process", "rabbitmq"])
async def broker(
    request: pytest.FixtureRequest, rabbit: RabbitNames
) -> AsyncIterator[Broker]:
    if request.param == "rabbitmq":
        yield await rabbit.broker()
        return
    in_process = InProcessBroker()
    await in_process.start()
    yield in_process
    await in_process.close()


async def consumed_through(
    database: Database, broker: Broker, rabbit: RabbitNames, event: CloudEvent,
    eventually: Eventually,
) -> CloudEvent:
    """Publishes what the outbox holds and returns the event as the consumer got it."""
    received: list[CloudEvent] = []

    async def keep(_session: AsyncSession, delivered: CloudEvent) -> None:
        received.append(delivered)

    await Consumer("traced", database, {event.type: keep}).subscribe(broker, rabbit.queue_prefix)
    rabbit.queue("traced")
    assert await OutboxRelay(database, broker).publish_pending() == 1

    async def arrived() -> bool:
        return bool(received)

    assert await eventually(arrived)
    return received[0]


async def test_a_changes_trace_runs_through_its_outbox_row_and_event_to_the_consumer(
    exporter: InMemorySpanExporter, database: Database, broker: Broker, rabbit: RabbitNames,
    new_event: Callable[[int], CloudEvent], eventually: Eventually,
) -> None:
    event = new_event(1)
    with span("tests", "POST /v1/referrals", SpanKind.SERVER, parent={"traceparent": INCOMING}):
        async with database.transaction() as session:
            await record_event(session, "kernel-tests", event.type, event.typed_data())
    async with database.transaction() as session:
        row = (await session.execute(sa.select(OutboxMessage))).scalar_one()

    delivered = await consumed_through(database, broker, rabbit, event, eventually)

    async def processed() -> bool:  # the consumer's span ends once its transaction has
        return any(span.name.startswith("process") for span in exporter.get_finished_spans())

    assert await eventually(processed)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    request = spans["POST /v1/referrals"]
    publish, process = spans["publish referral.accepted"], spans["process referral.accepted"]
    assert request.context is not None
    assert publish.context is not None
    assert process.context is not None
    assert publish.parent is not None
    assert process.parent is not None
    # The row keeps the request's span; the event carries the publishing span, whose child
    # the consumer's span is: one trace, the caller's.
    assert row.traceparent == f"00-{request.context.trace_id:032x}-{request.context.span_id:016x}-01"
    assert publish.kind is SpanKind.PRODUCER
    assert publish.parent.span_id == request.context.span_id
    assert delivered.traceparent is not None
    assert delivered.traceparent.split("-")[2] == f"{publish.context.span_id:016x}"
    assert process.kind is SpanKind.CONSUMER
    assert process.parent.span_id == publish.context.span_id
    assert {request.context.trace_id, publish.context.trace_id, process.context.trace_id} == {
        int(INCOMING.split("-")[1], 16)
    }


async def test_with_tracing_off_no_trace_context_is_written_or_sent(
    database: Database, broker: Broker, rabbit: RabbitNames,
    new_event: Callable[[int], CloudEvent], eventually: Eventually,
) -> None:
    event = new_event(1)
    async with database.transaction() as session:
        await record_event(session, "kernel-tests", event.type, event.typed_data())
    async with database.transaction() as session:
        row = (await session.execute(sa.select(OutboxMessage))).scalar_one()

    delivered = await consumed_through(database, broker, rabbit, event, eventually)

    assert (row.traceparent, row.tracestate) == (None, None)
    assert "traceparent" not in json.loads(row.body)
    assert (delivered.traceparent, delivered.tracestate) == (None, None)
    assert not {"traceparent", "tracestate"} & json.loads(delivered.to_bytes()).keys()
