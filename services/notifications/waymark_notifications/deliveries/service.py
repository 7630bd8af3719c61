import json
import random
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.events import (
    CaseConsentWithdrawn,
    CloudEvent,
    EventData,
    OrganizationChanged,
    ReferralChanged,
    ReferralCommentAdded,
    ServiceChanged,
    ServiceDeleted,
    SubscriptionDisabled,
    WebhookTest,
    utcnow,
)

from waymark_notifications.clock import as_utc, rfc3339
from waymark_notifications.deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from waymark_notifications.subscriptions import repository as subscription_repository
from waymark_notifications.subscriptions import service as subscription_service
from waymark_notifications.subscriptions.models import ENDPOINT_GONE, FAILED_TOO_LONG, Subscription
from waymark_notifications.subscriptions.patterns import matches
from waymark_notifications.webhooks.sender import SendResult

# webhook-id of an event's delivery to a subscription: the same however often it is enqueued.
WEBHOOK_ID_NAMESPACE = uuid.UUID("6f1c1c52-5d0e-4c59-9f59-2b8a3d1f0a77")
FAILURE_DISABLES_AFTER = timedelta(days=5)
LONGEST_RETRY_AFTER_SECONDS = 86_400.0
RETRY_JITTER = 0.1


def audience(data: EventData) -> set[uuid.UUID] | None:
    """The organisations an event is about; None for public registry changes (everyone)."""
    match data:
        case OrganizationChanged() | ServiceChanged() | ServiceDeleted():
            return None
        case ReferralChanged() | ReferralCommentAdded():
            return {data.sender_org_id, data.receiver_org_id}
        case CaseConsentWithdrawn() | SubscriptionDisabled() | WebhookTest():
            return {data.organization_id}
    return set()  # a new event type reaches no one until it has a rule here


def webhook_body(event_type: str, timestamp: datetime, data: dict) -> str:
    return json.dumps(
        {"type": event_type, "timestamp": rfc3339(timestamp), "data": data},
        separators=(",", ":"), ensure_ascii=False,
    )


async def enqueue_event(session: AsyncSession, event: CloudEvent) -> int:
    """One pending delivery per enabled subscription the event concerns; returns how many."""
    listeners = await subscription_repository.listeners(session, audience(event.typed_data()))
    body = webhook_body(event.type, event.time, event.data)
    now = utcnow()
    deliveries = [
        Delivery(
            id=uuid.uuid5(WEBHOOK_ID_NAMESPACE, f"{event.id}/{subscription_id}"),
            subscription_id=subscription_id, event_id=uuid.UUID(event.id), event_type=event.type,
            body=body, next_attempt_at=now, created_at=now, updated_at=now,
        )
        for subscription_id, patterns in listeners if matches(patterns, event.type)
    ]
    session.add_all(deliveries)
    await session.flush()
    return len(deliveries)


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


async def record_attempt(
    session: AsyncSession, delivery_id: uuid.UUID, result: SendResult, schedule: list[float]
) -> DeliveryAttempt | None:
    """Log the attempt and decide what follows; None if the subscription was deleted meanwhile."""
    delivery = await session.get(Delivery, delivery_id)
    if delivery is None:
        return None
    now = utcnow()
    delivery.attempts += 1
    delivery.updated_at = now
    delivery.next_attempt_at = None
    attempt = DeliveryAttempt(
        id=uuid.uuid4(), delivery_id=delivery.id, subscription_id=delivery.subscription_id,
        event_id=delivery.event_id, event_type=delivery.event_type, attempt=delivery.attempts,
        attempted_at=now, status_code=result.status_code, duration_ms=result.duration_ms,
        succeeded=result.succeeded, error=result.error, response_excerpt=result.response_excerpt,
    )
    session.add(attempt)
    if result.succeeded:
        delivery.status = DeliveryStatus.delivered
        await subscription_repository.clear_failing(session, delivery.subscription_id)
    elif result.status_code == 410:
        delivery.status = DeliveryStatus.failed
        await subscription_service.disable(session, delivery.subscription_id, ENDPOINT_GONE)
    else:
        delay = retry_delay(delivery.attempts, result, schedule) if delivery.retries else None
        delivery.status = DeliveryStatus.failed if delay is None else DeliveryStatus.pending
        delivery.next_attempt_at = None if delay is None else now + delay
        failing_since = await subscription_repository.mark_failing(
            session, delivery.subscription_id, now
        )
        if failing_since is not None and now - as_utc(failing_since) >= FAILURE_DISABLES_AFTER:
            await subscription_service.disable(session, delivery.subscription_id, FAILED_TOO_LONG)
    await session.flush()
    return attempt
