import random
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.clock import utcnow
from waymark_kernel.events import (
    CloudEvent,
    EventData,
    OrganizationChanged,
    ReferralChanged,
    ReferralCommentAdded,
    SubscriptionDisabled,
)
from waymark_kernel.messaging.broker import backoff
from waymark_kernel.problems import NotFound
from waymark_kernel.settings import Settings

from waymark_notifications.inbox import repository
from waymark_notifications.inbox.models import InboxNotification

URGENT = frozenset({"emergency", "high"})
EMAIL_RETRY_JITTER = 0.1


def _referral_notices(event_type: str, data: ReferralChanged) -> list[tuple[uuid.UUID, str]]:
    """(organisation, summary) for the referral events a caseworker must see."""
    corridor = f"{data.from_country} → {data.to_country}, urgency {data.urgency}"
    match event_type:
        case "referral.requested":
            return [(data.receiver_org_id, f"New referral received ({corridor})")]
        case "referral.received":
            return [(data.sender_org_id, f"Your referral was received ({corridor})")]
        case "referral.accepted":
            return [(data.sender_org_id, f"Your referral was accepted ({corridor})")]
        case "referral.rejected":
            return [(data.sender_org_id, f"Your referral was rejected ({corridor})")]
        case "referral.overdue":
            return [
                (data.receiver_org_id, f"A referral awaits your answer, overdue ({corridor})"),
                (data.sender_org_id, f"Your referral is overdue for an answer ({corridor})"),
            ]
    return []


IDENTITY_FIELDS = frozenset({"name", "type", "country"})


def _organization_notice(event_type: str, data: OrganizationChanged) -> str | None:
    """What an organisation is told when the network admin changes its identity (name, type,
    country) or its verification: both decide which consent scopes it falls under."""
    changed = set(data.changed_fields)
    identity = sorted(changed & IDENTITY_FIELDS)
    if event_type != "organization.updated" or not (identity or "verified" in changed):
        return None
    verification = "verified" if data.verified else "not verified"
    if "verified" in changed:
        verification = "now verified" if data.verified else "verification withdrawn"
    if not identity:
        return f"Your organisation's registration: {verification}"
    return (
        f"Your organisation's {' and '.join(identity)} changed (now "
        f"{data.type.replace('_', ' ')} in {data.country}); {verification}"
    )


def notices(event: CloudEvent, data: EventData) -> list[dict]:
    """The inbox entries (rows) an event makes; most events make none."""
    now = utcnow()

    def entry(organization_id: uuid.UUID, summary: str, **fields) -> dict:
        return {
            "id": uuid.uuid4(), "organization_id": organization_id, "event_id": uuid.UUID(event.id),
            "event_type": event.type, "summary": summary, "created_at": now, "referral_id": None,
            "subscription_id": None, "reason": None, "urgency": None, "email_pending": False,
            **fields,
        }

    match data:
        case ReferralChanged():
            emailed = event.type == "referral.overdue" or (
                event.type == "referral.requested" and data.urgency in URGENT
            )
            return [
                entry(organization_id, summary, referral_id=data.referral_id,
                      urgency=data.urgency, email_pending=emailed)
                for organization_id, summary in _referral_notices(event.type, data)
            ]
        case ReferralCommentAdded():
            reader = data.receiver_org_id if data.author_org_id == data.sender_org_id \
                else data.sender_org_id
            return [entry(reader, "New comment on a referral", referral_id=data.referral_id)]
        case OrganizationChanged():
            summary = _organization_notice(event.type, data)
            return [entry(data.organization_id, summary)] if summary else []
        case SubscriptionDisabled():
            return [entry(
                data.organization_id, f"A webhook subscription was disabled: {data.reason}",
                subscription_id=data.subscription_id, reason=data.reason,
            )]
    return []


async def notify(session: AsyncSession, event: CloudEvent, data: EventData) -> bool:
    """Add the event's inbox entries; True if one of them is to be emailed."""
    entries = notices(event, data)
    await repository.add_all(session, entries)
    return any(entry["email_pending"] for entry in entries)


async def remember_contact(session: AsyncSession, data: EventData) -> None:
    if isinstance(data, OrganizationChanged):
        await repository.save_contact(session, data.organization_id, data.email, utcnow())


async def visible(
    session: AsyncSession, organization_id: uuid.UUID, notification_id: uuid.UUID
) -> InboxNotification:
    notification = await repository.get_of_organization(session, organization_id, notification_id)
    if notification is None:
        raise NotFound("notification")
    return notification


async def mark_read(session: AsyncSession, notification: InboxNotification) -> InboxNotification:
    if notification.read_at is None:
        notification.read_at = utcnow()
        await session.flush()
    return notification


def email_text(notification: InboxNotification) -> tuple[str, str]:
    """Subject and body: what happened and where to look, nothing about the person."""
    subject = f"Waymark: {notification.summary}"
    body = (
        f"{notification.summary}.\n\n"
        f"Referral id: {notification.referral_id}\n"
        "Open Waymark to see the referral; this message holds no personal data.\n"
    )
    return subject, body


def email_retry_delay(failed_attempts: int, settings: Settings) -> timedelta:
    """Exponential back-off after the `failed_attempts`-th failure, capped, with jitter so that
    emails failing together do not come back together."""
    seconds = backoff(settings.smtp_retry_seconds, failed_attempts, settings.smtp_retry_max_seconds)
    return timedelta(seconds=seconds * random.uniform(1 - EMAIL_RETRY_JITTER, 1 + EMAIL_RETRY_JITTER))


def email_failed(notification: InboxNotification, settings: Settings, now: datetime) -> None:
    notification.email_attempts += 1
    notification.email_next_attempt_at = now + email_retry_delay(
        notification.email_attempts, settings
    )
