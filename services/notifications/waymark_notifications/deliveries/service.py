import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.clock import as_utc, rfc3339, utcnow
from waymark_kernel.events import CloudEvent, EventData, WebhookTest
from waymark_kernel.problems import Conflict, NotFound
from waymark_kernel.settings import Settings
from waymark_kernel.tracing import current_trace_headers, trace_headers_of

from waymark_notifications.audience import audience
from waymark_notifications.deliveries import repository
from waymark_notifications.deliveries.models import Delivery, DeliveryStatus
from waymark_notifications.feed import repository as feed_repository
from waymark_notifications.feed import service as feed_service
from waymark_notifications.feed.models import FeedEvent
from waymark_notifications.subscriptions import repository as subscription_repository
from waymark_notifications.subscriptions import service as subscription_service
from waymark_notifications.subscriptions.models import ENDPOINT_GONE, FAILED_TOO_LONG, Subscription
from waymark_notifications.subscriptions.repository import Listener
from waymark_notifications.subscriptions.patterns import matches
from waymark_notifications.webhooks.sender import SendResult

# webhook-id of an event's delivery to a subscription: the same however often it is enqueued.
WEBHOOK_ID_NAMESPACE = uuid.UUID("6f1c1c52-5d0e-4c59-9f59-2b8a3d1f0a77")
REPLAY_LIMIT = 10_000
LONGEST_RETRY_AFTER_SECONDS = 86_400.0
RETRY_JITTER = 0.1


def delivery_id_of(event_id: uuid.UUID, subscription_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(WEBHOOK_ID_NAMESPACE, f"{event_id}/{subscription_id}")


def webhook_body(event_type: str, timestamp: datetime, data: dict) -> str:
    return json.dumps(
        {"type": event_type, "timestamp": rfc3339(timestamp), "data": data},
        separators=(",", ":"), ensure_ascii=False,
    )


@dataclass(frozen=True)
class Outgoing:
    """What sending a delivery and logging its attempt need to know of it."""

    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    body: str
    attempts: int = 0
    retry_base: int = 0
    retries: bool = True
    traceparent: str | None = None
    tracestate: str | None = None

    @classmethod
    def of(cls, delivery: Delivery) -> "Outgoing":
        return cls(
            delivery.id, delivery.subscription_id, delivery.event_id, delivery.event_type,
            delivery.body, delivery.attempts, delivery.retry_base, delivery.retries,
            delivery.traceparent, delivery.tracestate,
        )

    @property
    def trace_parent(self) -> dict[str, str] | None:
        """The trace its attempts belong to; None: the span in progress, if any."""
        return trace_headers_of(self.traceparent, self.tracestate) or None


async def enqueue_event(
    session: AsyncSession, event: CloudEvent, data: EventData,
    room_for: Callable[[list[uuid.UUID]], set[uuid.UUID]], leased_until: datetime,
) -> tuple[list[tuple[Outgoing, Listener]], list[uuid.UUID]]:
    """One pending delivery per enabled subscription the event concerns, in one INSERT. Those
    the dispatcher has room for are leased to it at once, to be sent right after the commit
    without being looked up again. Returns the leased ones, and the subscriptions of the others."""
    body = webhook_body(event.type, event.time, event.data)
    event_id = uuid.UUID(event.id)
    now = utcnow()
    subscriptions = [
        subscription
        for subscription in await subscription_repository.listeners(session, audience(data))
        if matches(subscription.event_types, event.type)
    ]
    room = room_for([subscription.id for subscription in subscriptions])
    trace = current_trace_headers()
    traceparent, tracestate = trace.get("traceparent"), trace.get("tracestate")
    rows, leased, waiting = [], [], []
    for subscription in subscriptions:
        outgoing = Outgoing(
            delivery_id_of(event_id, subscription.id), subscription.id, event_id, event.type, body,
            traceparent=traceparent, tracestate=tracestate,
        )
        taken = subscription.id in room
        if taken:
            leased.append((outgoing, subscription))
        else:
            waiting.append(subscription.id)
        rows.append({
            "id": outgoing.id, "subscription_id": subscription.id, "event_id": event_id,
            "event_type": event.type, "body": body, "status": DeliveryStatus.pending,
            "attempts": 0, "retry_base": 0, "retries": True,
            "next_attempt_at": leased_until if taken else now, "created_at": now,
            "updated_at": now, "traceparent": traceparent, "tracestate": tracestate,
        })
    await repository.add_all(session, rows)
    return leased, waiting


async def enqueue_test(
    session: AsyncSession, subscription: Subscription, leased_until: datetime
) -> Delivery:
    """A `webhook.test` for one subscription, leased to the caller who sends it at once."""
    now = utcnow()
    data = WebhookTest(
        subscription_id=subscription.id, organization_id=subscription.organization_id
    )
    delivery = Delivery(
        id=uuid.uuid4(), subscription_id=subscription.id, event_id=uuid.uuid4(),
        event_type="webhook.test",
        body=webhook_body("webhook.test", now, data.model_dump(mode="json")),
        retries=False, next_attempt_at=leased_until, created_at=now, updated_at=now,
    )
    session.add(delivery)
    await session.flush()
    return delivery


def retry_delay(attempts_made: int, result: SendResult, schedule: list[float]) -> timedelta | None:
    """When to try again after a failed attempt; None once the schedule is used up."""
    if attempts_made > len(schedule):
        return None
    seconds = schedule[attempts_made - 1] * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)
    if result.retry_after_seconds is not None:
        seconds = max(seconds, min(result.retry_after_seconds, LONGEST_RETRY_AFTER_SECONDS))
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Sent:
    """An attempt's result, with the delivery as it was when claimed."""

    delivery: Outgoing
    result: SendResult
    attempted_at: datetime


async def record_attempts(
    session: AsyncSession, sent: list[Sent], settings: Settings
) -> list[dict]:
    """Log a batch of attempts and decide what follows each: the successes in a few
    statements whatever their number, a statement per failure. Returns the logged attempts
    (not those of deliveries deleted meanwhile with their subscription)."""
    now = utcnow()
    attempt_numbers = await repository.mark_delivered(
        session, [item.delivery.id for item in sent if item.result.succeeded], now
    )
    failures = [item for item in sent if not item.result.succeeded]
    if failures:
        attempt_numbers |= await _after_failures(session, failures, settings, now)
    last_outcome = {item.delivery.subscription_id: item.result.succeeded for item in sent}
    await subscription_repository.clear_failing(
        session, {subscription_id for subscription_id, ok in last_outcome.items() if ok}
    )
    attempts = [
        {"id": uuid.uuid4(), "delivery_id": item.delivery.id,
         "subscription_id": item.delivery.subscription_id, "event_id": item.delivery.event_id,
         "event_type": item.delivery.event_type, "attempt": attempt_numbers[item.delivery.id],
         "attempted_at": item.attempted_at, "status_code": item.result.status_code,
         "duration_ms": item.result.duration_ms, "succeeded": item.result.succeeded,
         "error": item.result.error, "response_excerpt": item.result.response_excerpt}
        for item in sent if item.delivery.id in attempt_numbers
    ]
    await repository.add_attempts(session, attempts)
    return attempts


async def _after_failures(
    session: AsyncSession, failures: list[Sent], settings: Settings, now: datetime
) -> dict[uuid.UUID, int]:
    """Retry on the schedule, or give up: 410 and failing for too long disable the
    subscription. Returns the attempt number of each delivery still there."""
    enabled: dict[uuid.UUID, bool] = {}
    attempt_numbers = {}
    for item in failures:
        delivery, result = item.delivery, item.result
        subscription_id = delivery.subscription_id
        if result.status_code == 410:
            await subscription_service.disable(session, subscription_id, ENDPOINT_GONE)
            enabled[subscription_id] = False
        elif subscription_id not in enabled:
            enabled[subscription_id] = await _enabled_while_failing(
                session, subscription_id, settings, now
            )
        # A disabled subscription's deliveries wait for a replay, not for the schedule.
        delay = retry_delay(
            delivery.attempts + 1 - delivery.retry_base, result, settings.webhook_retry_schedule
        ) if delivery.retries and enabled[subscription_id] else None
        number = await repository.mark_attempt_failed(
            session, delivery.id, None if delay is None else now + delay, now
        )
        if number is not None:
            attempt_numbers[delivery.id] = number
    return attempt_numbers


async def _enabled_while_failing(
    session: AsyncSession, subscription_id: uuid.UUID, settings: Settings, now: datetime
) -> bool:
    """Note the failure; a subscription failing without a success for too long is disabled."""
    failing = await subscription_repository.mark_failing(session, subscription_id, now)
    if failing is None or not failing.enabled:
        return False
    if now - as_utc(failing.failing_since) >= timedelta(
        seconds=settings.webhook_disable_after_seconds
    ):
        await subscription_service.disable(session, subscription_id, FAILED_TOO_LONG)
        return False
    return True


def _feed_body(event: FeedEvent) -> str:
    return webhook_body(event.event_type, as_utc(event.occurred_at), event.data)


def _send_again(delivery: Delivery, body: str, at: datetime) -> None:
    """Pending again with a fresh retry schedule, its webhook-id unchanged."""
    delivery.status = DeliveryStatus.pending
    delivery.retry_base = delivery.attempts
    delivery.next_attempt_at = at
    delivery.updated_at = utcnow()
    delivery.body = delivery.body or body


async def replay(
    session: AsyncSession, subscription: Subscription, since: datetime, until: datetime
) -> int:
    """Send again every event of the window (by event time) the subscription listens to and
    that did not reach it: failed deliveries and events that came while it was disabled.
    Returns how many deliveries were scheduled."""
    now = utcnow()
    await feed_service.append_pending(session)
    events = [
        event for event in await feed_repository.in_window(
            session, subscription.organization_id, since, until, REPLAY_LIMIT
        )
        if matches(subscription.event_types, event.event_type)
    ]
    existing = await repository.by_ids(
        session, [delivery_id_of(event.event_id, subscription.id) for event in events]
    )
    scheduled = 0
    for event in events:
        delivery_id = delivery_id_of(event.event_id, subscription.id)
        delivery = existing.get(delivery_id)
        if delivery is None:
            session.add(Delivery(
                id=delivery_id, subscription_id=subscription.id, event_id=event.event_id,
                event_type=event.event_type, body=_feed_body(event), next_attempt_at=now,
                created_at=now, updated_at=now,
            ))
        elif delivery.status == DeliveryStatus.failed:
            _send_again(delivery, _feed_body(event), now)
        else:
            continue
        scheduled += 1
    await session.flush()
    return scheduled


async def prepare_retry(
    session: AsyncSession, subscription: Subscription, delivery_id: uuid.UUID,
    leased_until: datetime,
) -> Delivery:
    """One delivery, leased to the caller who sends it at once."""
    delivery = await session.get(Delivery, delivery_id)
    if delivery is None or delivery.subscription_id != subscription.id:
        raise NotFound("delivery")
    if delivery.status == DeliveryStatus.pending:
        raise Conflict("The delivery is already pending; it will be tried on its schedule.")
    body = delivery.body
    if body is None:
        await feed_service.append_pending(session)
        event = await feed_repository.by_event_id(session, delivery.event_id)
        if event is None:
            raise Conflict("The delivery is older than the retention period and cannot be sent.")
        body = _feed_body(event)
    _send_again(delivery, body, leased_until)
    await session.flush()
    return delivery
