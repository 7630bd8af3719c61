import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from waymark_kernel.db import Prepared
from waymark_notifications.feed.models import FeedAudience, FeedEvent, PendingFeedEvent

APPEND_LOCK = 7213505
FEED_COLUMNS = ("event_id", "event_type", "occurred_at", "data", "public", "recorded_at")


PENDING_ROW = (
    "event_id", "event_type", "occurred_at", "data", "public", "organization_ids", "recorded_at",
)
_ADD_PENDING = Prepared(insert(PendingFeedEvent), columns=PENDING_ROW)


async def add_pending(session: AsyncSession, event: dict[str, Any]) -> None:
    """An event with every column of `PENDING_ROW`."""
    await _ADD_PENDING.execute(session, **event)


async def append_pending(session: AsyncSession) -> int:
    """Give every pending event its position, oldest first; returns how many. Appends commit
    in position order: each holds a lock until its commit, so a reader past a position never
    misses a smaller one committed later (SQLite serialises writers anyway)."""
    if (await session.execute(select(col(PendingFeedEvent.event_id)).limit(1))).first() is None:
        return 0
    if session.bind.dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(APPEND_LOCK)))
    pending = sorted(
        (await session.execute(
            delete(PendingFeedEvent).returning(PendingFeedEvent)
            .execution_options(synchronize_session=False)
        )).scalars(),
        key=lambda event: (event.recorded_at, str(event.event_id)),
    )
    if not pending:  # another appender took them meanwhile
        return 0
    positions = dict((await session.execute(
        insert(FeedEvent).returning(col(FeedEvent.event_id), col(FeedEvent.position),
                                    sort_by_parameter_order=True),
        [{name: getattr(event, name) for name in FEED_COLUMNS} for event in pending],
    )).tuples().all())
    audience = [
        {"position": positions[event.event_id], "organization_id": uuid.UUID(organization_id)}
        for event in pending for organization_id in event.organization_ids
    ]
    if audience:
        await session.execute(insert(FeedAudience), audience)
    return len(pending)


def _visible_to(organization_id: uuid.UUID) -> ColumnElement[bool]:
    return or_(col(FeedEvent.public), col(FeedEvent.position).in_(
        select(col(FeedAudience.position)).where(col(FeedAudience.organization_id) == organization_id)
    ))


async def page_for(
    session: AsyncSession, organization_id: uuid.UUID, after: int | None, limit: int
) -> list[FeedEvent]:
    """Oldest first, after the given position."""
    query = select(FeedEvent).where(_visible_to(organization_id))
    if after is not None:
        query = query.where(col(FeedEvent.position) > after)
    return list((await session.execute(query.order_by(col(FeedEvent.position)).limit(limit))).scalars())


async def in_window(
    session: AsyncSession, organization_id: uuid.UUID, since: datetime, until: datetime,
    limit: int,
) -> list[FeedEvent]:
    query = select(FeedEvent).where(
        _visible_to(organization_id), col(FeedEvent.occurred_at) >= since,
        col(FeedEvent.occurred_at) < until,
    )
    return list((await session.execute(query.order_by(col(FeedEvent.position)).limit(limit))).scalars())


async def by_event_id(session: AsyncSession, event_id: uuid.UUID) -> FeedEvent | None:
    return (await session.execute(
        select(FeedEvent).where(col(FeedEvent.event_id) == event_id)
    )).scalar_one_or_none()


async def purge_recorded_before(session: AsyncSession, moment: datetime) -> None:
    await session.execute(delete(FeedAudience).where(col(FeedAudience.position).in_(
        select(col(FeedEvent.position)).where(col(FeedEvent.recorded_at) < moment)
    )))
    await session.execute(delete(FeedEvent).where(col(FeedEvent.recorded_at) < moment))
