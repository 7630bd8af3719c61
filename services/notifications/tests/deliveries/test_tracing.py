"""With tracing on, a delivery keeps its event's consumer span: every attempt, retries
included, is a span of the event's trace and sends it on in `traceparent`."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import select

from services.notifications.tests.conftest import Notifications, Receiver
from waymark_kernel.events import CloudEvent, ReferralChanged
from waymark_kernel.tracing import start_tracing, stop_tracing
from waymark_notifications.deliveries.models import Delivery

# The trace of the request that changed the referral, as its event carries it from the relay.
PUBLISHED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    start_tracing("notifications-tests", spans)
    yield spans
    stop_tracing()


async def test_every_attempt_of_a_delivery_joins_its_events_trace(
    exporter: InMemorySpanExporter, notifications: Notifications,
    receiver: Callable[..., Awaitable[Receiver]],
) -> None:
    organization = uuid.uuid4()
    endpoint = await receiver(500, 503)
    await notifications.subscribe(organization, endpoint.url, "referral.accepted")
    event = CloudEvent.of("tests", "referral.accepted", ReferralChanged(
        referral_id=uuid.uuid4(), sender_org_id=uuid.uuid4(), receiver_org_id=organization,
        status="accepted", from_country="NP", to_country="LB", urgency="high", version=2,
    ))

    await notifications.broker.publish(event.model_copy(update={"traceparent": PUBLISHED}))
    received = await endpoint.wait_for(3)

    trace_id = PUBLISHED.split("-")[1]
    process = next(span for span in exporter.get_finished_spans()
                   if span.name == "process referral.accepted")
    assert process.kind is SpanKind.CONSUMER
    assert process.context is not None
    assert process.parent is not None
    assert f"{process.parent.span_id:016x}" == PUBLISHED[36:52]
    async with notifications.app.state.database.transaction() as session:
        delivery = (await session.execute(select(Delivery))).scalar_one()
    assert delivery.traceparent == f"00-{trace_id}-{process.context.span_id:016x}-01"

    sent_in = [headers["traceparent"].split("-") for headers, _ in received]
    assert {parts[1] for parts in sent_in} == {trace_id}
    attempts: dict[int, ReadableSpan] = {}
    for _ in range(200):  # an attempt's span ends once its answer is read
        attempts = {span.context.span_id: span for span in exporter.get_finished_spans()
                    if span.name == "webhook referral.accepted" and span.context is not None}
        if len(attempts) == 3:
            break
        await asyncio.sleep(0.05)
    assert sorted(attempts) == sorted(int(parts[2], 16) for parts in sent_in)
    for span in attempts.values():
        assert span.kind is SpanKind.CLIENT
        assert span.parent is not None
        assert span.parent.span_id == process.context.span_id
    statuses = {(span.attributes or {})["http.response.status_code"] for span in attempts.values()}
    assert statuses == {200, 500, 503}
    assert sorted(span.status.status_code.name for span in attempts.values()) == [
        StatusCode.ERROR.name, StatusCode.ERROR.name, StatusCode.UNSET.name,
    ]
