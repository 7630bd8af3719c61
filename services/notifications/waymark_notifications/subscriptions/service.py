import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.auth import Identity
from waymark_kernel.clock import as_utc, utcnow
from waymark_kernel.events import SubscriptionDisabled
from waymark_kernel.messaging import record_event
from waymark_kernel.problems import Forbidden, NotFound, Problem

from waymark_notifications.deliveries import repository as delivery_repository
from waymark_notifications.subscriptions import repository
from waymark_notifications.subscriptions.models import DISABLED_BY_ORGANIZATION, Subscription
from waymark_notifications.subscriptions.repository import Listener
from waymark_notifications.subscriptions.schemas import SubscriptionCreate, SubscriptionUpdate
from waymark_notifications.webhooks.secret_box import SecretBox
from waymark_notifications.webhooks.signing import generate_secret
from waymark_notifications.webhooks.url_guard import UnsafeTarget, UrlGuard

EVENT_SOURCE = "waymark/notifications"
ROTATION_OVERLAP = timedelta(hours=24)


def require_admin(identity: Identity, organization_id: uuid.UUID) -> None:
    if not identity.is_admin_of(organization_id):
        raise Forbidden("Only an org_admin of the organisation manages its webhook subscriptions.")


async def checked_url(guard: UrlGuard, url: str) -> str:
    try:
        await guard.check(url)
    except UnsafeTarget as exc:
        raise Problem(422, str(exc), kind="unsafe-webhook-url", title="Unsafe webhook URL") from exc
    return url


async def visible(
    session: AsyncSession, organization_id: uuid.UUID, subscription_id: uuid.UUID
) -> Subscription:
    subscription = await repository.get_of_organization(session, organization_id, subscription_id)
    if subscription is None:
        raise NotFound("subscription")
    return subscription


async def create(
    session: AsyncSession, guard: UrlGuard, box: SecretBox, organization_id: uuid.UUID,
    body: SubscriptionCreate,
) -> tuple[Subscription, str]:
    """The new subscription and its secret, which is never shown again."""
    url = await checked_url(guard, body.url)
    now = utcnow()
    subscription_id = uuid.uuid4()
    secret = generate_secret()
    subscription = Subscription(
        id=subscription_id, organization_id=organization_id, url=url,
        event_types=body.event_types, description=body.description,
        sealed_secret=box.seal(secret, subscription_id), created_at=now, updated_at=now,
    )
    session.add(subscription)
    await session.flush()
    return subscription, secret


async def update(
    session: AsyncSession, guard: UrlGuard, subscription: Subscription, body: SubscriptionUpdate
) -> Subscription:
    changes = body.model_dump(exclude_unset=True)
    if "url" in changes:
        changes["url"] = await checked_url(guard, changes["url"])
    if "enabled" in changes and changes["enabled"] != subscription.enabled:
        changes["disabled_reason"] = None if changes["enabled"] else DISABLED_BY_ORGANIZATION
        changes["failing_since"] = None
        if not changes["enabled"]:
            await delivery_repository.give_up_pending(session, subscription.id)
    for name, value in changes.items():
        setattr(subscription, name, value)
    subscription.updated_at = utcnow()
    await session.flush()
    return subscription


async def delete(session: AsyncSession, subscription: Subscription) -> None:
    """Its deliveries and their attempts go with it (ON DELETE CASCADE)."""
    await session.delete(subscription)
    await session.flush()


async def rotate_secret(session: AsyncSession, box: SecretBox, subscription: Subscription) -> str:
    """A new secret; the current one keeps signing beside it for 24 hours."""
    now = utcnow()
    secret = generate_secret()
    subscription.sealed_previous_secret = subscription.sealed_secret
    subscription.previous_secret_expires_at = now + ROTATION_OVERLAP
    subscription.sealed_secret = box.seal(secret, subscription.id)
    subscription.updated_at = now
    await session.flush()
    return secret


def secrets_in_use(
    box: SecretBox, subscription: Subscription | Listener, now: datetime
) -> list[str]:
    secrets = [box.open(subscription.sealed_secret, subscription.id)]
    expires_at = subscription.previous_secret_expires_at
    if subscription.sealed_previous_secret and expires_at and as_utc(expires_at) > now:
        secrets.append(box.open(subscription.sealed_previous_secret, subscription.id))
    return secrets


async def disable(session: AsyncSession, subscription_id: uuid.UUID, reason: str) -> None:
    """Disable a subscription Waymark gave up on, and tell its organisation by an event.
    Its pending deliveries fail: a replay sends them once it is enabled again."""
    organization_id = await repository.disable(session, subscription_id, reason, utcnow())
    if organization_id is not None:
        await delivery_repository.give_up_pending(session, subscription_id)
        await record_event(session, EVENT_SOURCE, "subscription.disabled", SubscriptionDisabled(
            subscription_id=subscription_id, organization_id=organization_id, reason=reason,
        ))
