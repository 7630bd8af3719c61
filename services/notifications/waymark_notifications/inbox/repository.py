import uuid
from datetime import datetime

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from waymark_kernel.db import Upsert
from waymark_kernel.keyset import Keyset

from waymark_notifications.inbox.models import InboxNotification, OrganizationContact


async def add_all(session: AsyncSession, notifications: list[dict]) -> None:
    """One multi-row INSERT, without building ORM objects."""
    if notifications:
        await session.execute(insert(InboxNotification), notifications)


async def get_of_organization(
    session: AsyncSession, organization_id: uuid.UUID, notification_id: uuid.UUID
) -> InboxNotification | None:
    return (await session.execute(select(InboxNotification).where(
        InboxNotification.id == notification_id,
        InboxNotification.organization_id == organization_id,
    ))).scalar_one_or_none()


_NEWEST_FIRST = Keyset(
    col(InboxNotification.created_at), col(InboxNotification.id), descending=True
)


async def page_of_organization(
    session: AsyncSession, organization_id: uuid.UUID, *, unread_only: bool, limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[InboxNotification]:
    """Newest first."""
    query = select(InboxNotification).where(InboxNotification.organization_id == organization_id)
    if unread_only:
        query = query.where(InboxNotification.read_at.is_(None))
    query = _NEWEST_FIRST.page(query, after, limit)
    return list((await session.execute(query)).scalars())


async def unread_count(session: AsyncSession, organization_id: uuid.UUID) -> int:
    return (await session.execute(select(func.count()).where(
        InboxNotification.organization_id == organization_id, InboxNotification.read_at.is_(None)
    ))).scalar_one()


def _email_due(now: datetime):
    return and_(InboxNotification.email_pending, or_(
        InboxNotification.email_next_attempt_at.is_(None),
        InboxNotification.email_next_attempt_at <= now,
    ))


async def awaiting_email(
    session: AsyncSession, now: datetime, limit: int
) -> list[tuple[InboxNotification, str]]:
    """Notifications due to be emailed, with their organisation's address; locked rows are
    skipped."""
    query = (
        select(InboxNotification, OrganizationContact.email)
        .join(OrganizationContact, OrganizationContact.id == InboxNotification.organization_id)
        .where(_email_due(now), OrganizationContact.email.is_not(None))
        .order_by(InboxNotification.created_at)
        .limit(limit)
    )
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=InboxNotification)
    return [(row, email) for row, email in await session.execute(query)]


async def emailed(session: AsyncSession, notification_ids: list[uuid.UUID]) -> None:
    await session.execute(
        update(InboxNotification).where(InboxNotification.id.in_(notification_ids))
        .values(email_pending=False)
    )


async def next_email_due_at(session: AsyncSession) -> datetime | None:
    """When the earliest email waiting for another attempt is due."""
    return (await session.execute(
        select(func.min(InboxNotification.email_next_attempt_at))
        .join(OrganizationContact, OrganizationContact.id == InboxNotification.organization_id)
        .where(InboxNotification.email_pending, OrganizationContact.email.is_not(None))
    )).scalar_one_or_none()


_SAVE_CONTACT = Upsert(OrganizationContact.__table__, lambda insert: insert.on_conflict_do_update(
    index_elements=["id"],
    set_={"email": insert.excluded.email, "updated_at": insert.excluded.updated_at},
))


async def save_contact(
    session: AsyncSession, organization_id: uuid.UUID, email: str | None, now: datetime
) -> None:
    await _SAVE_CONTACT.of(session).execute(
        session, id=organization_id, email=email, updated_at=now
    )