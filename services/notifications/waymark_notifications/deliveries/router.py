import uuid

from fastapi import APIRouter, status
from waymark_kernel.api import Cursor, Limit, Page, page_of, position_after
from waymark_kernel.auth import CurrentIdentity, CurrentOrg
from waymark_kernel.clock import as_utc, utcnow
from waymark_kernel.db import SessionDep, after_commit
from waymark_kernel.problems import NotFound

from waymark_notifications.deliveries import repository, service
from waymark_notifications.deliveries.schemas import (
    DeliveryAttemptRead,
    ReplayRequest,
    ReplayResult,
)
from waymark_notifications.dependencies import DatabaseDep, DispatcherDep
from waymark_notifications.subscriptions import service as subscription_service

router = APIRouter(prefix="/v1/subscriptions", tags=["Webhook subscriptions"])


@router.get("/{subscription_id}/deliveries", response_model=Page[DeliveryAttemptRead])
async def list_delivery_attempts(
    subscription_id: uuid.UUID, session: SessionDep, organization_id: CurrentOrg,
    limit: Limit = 50, cursor: Cursor = None,
) -> Page[DeliveryAttemptRead]:
    """Every attempt to deliver to this subscription, newest first."""
    await subscription_service.visible(session, organization_id, subscription_id)
    rows = await repository.attempts_page(
        session, subscription_id, limit + 1, position_after(cursor)
    )
    return page_of(
        rows, limit, DeliveryAttemptRead.model_validate,
        lambda row: (as_utc(row.attempted_at), row.id),
    )


@router.post("/{subscription_id}/test", response_model=DeliveryAttemptRead)
async def send_test_event(
    subscription_id: uuid.UUID, identity: CurrentIdentity, organization_id: CurrentOrg,
    database: DatabaseDep, dispatcher: DispatcherDep,
) -> DeliveryAttemptRead:
    """Send a `webhook.test` event to the subscription now (even a disabled one) and report
    the attempt. It is not retried; a 410 answer disables the subscription as always."""
    async with database.transaction() as session:
        subscription = await subscription_service.visible(session, organization_id, subscription_id)
        subscription_service.require_admin(identity, organization_id)
        delivery = await service.enqueue_test(session, subscription, dispatcher.lease_end())
    attempt = await dispatcher.deliver_now(delivery, subscription)
    if attempt is None:
        raise NotFound("subscription")
    return DeliveryAttemptRead.model_validate(attempt)


@router.post(
    "/{subscription_id}/replay", response_model=ReplayResult, status_code=status.HTTP_202_ACCEPTED
)
async def replay(
    subscription_id: uuid.UUID, body: ReplayRequest, session: SessionDep,
    identity: CurrentIdentity, organization_id: CurrentOrg, dispatcher: DispatcherDep,
) -> ReplayResult:
    """Send again, with their original `webhook-id`, the events of the window (by event time)
    that failed to reach the subscription or came while it was disabled. A disabled
    subscription sends them once it is enabled again."""
    subscription = await subscription_service.visible(session, organization_id, subscription_id)
    subscription_service.require_admin(identity, organization_id)
    scheduled = await service.replay(session, subscription, body.since, body.until or utcnow())
    after_commit(session, "dispatch", dispatcher.wake)
    return ReplayResult(scheduled=scheduled)


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/retry", response_model=DeliveryAttemptRead
)
async def retry_delivery(
    subscription_id: uuid.UUID, delivery_id: uuid.UUID, identity: CurrentIdentity,
    organization_id: CurrentOrg, database: DatabaseDep, dispatcher: DispatcherDep,
) -> DeliveryAttemptRead:
    """Send one delivery again now (even to a disabled subscription) and report the attempt;
    if it fails, it is retried on the schedule from the start."""
    async with database.transaction() as session:
        subscription = await subscription_service.visible(session, organization_id, subscription_id)
        subscription_service.require_admin(identity, organization_id)
        delivery = await service.prepare_retry(
            session, subscription, delivery_id, dispatcher.lease_end()
        )
    attempt = await dispatcher.deliver_now(delivery, subscription)
    if attempt is None:
        raise NotFound("subscription")
    return DeliveryAttemptRead.model_validate(attempt)
