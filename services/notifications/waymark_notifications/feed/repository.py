import uuid
from datetime import datetime

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.db import Prepared
from waymark_notifications.feed.models import FeedAudience, FeedEvent, PendingFeedEvent

APPEND_LOCK = 7213505
FEED_COLUMNS = ("event_id", "event_type", "occurred_at", "data", "public", "recorded_at")


PENDING_ROW = (
    "event_id", "event_type", "occurred_at", "data", "public", "organization_ids", "recorded_at",
)
_ADD_PENDING = Prepared(insert(PendingFeedEvent), columns=PENDING_ROW)


async def add_pending(session: AsyncSession, event: dict) -> None:
    """An event with every column of `PENDING_ROW`."""
    await _ADD_PENDING.execute(session, **event)


async def append_pending(session: AsyncSession) -> int:
    """Give every pending event its position, oldest first; returns how many. Appends commit
    in position order: each holds a lock until its commit, so a reader past a position never
    misses a smaller one committed later (SQLite serialises writers anyway)."""
    if (await session.execute(select(PendingFeedEvent.event_id).limit(1))).first() is None:
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
        insert(FeedEvent).returning(FeedEvent.event_id, FeedEvent.position,
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


def _visible_to(organization_id: uuid.UUID):
    return or_(FeedEvent.public, FeedEvent.position.in_(
        select(FeedAudience.position).where(FeedAudience.organization_id == organization_id)
    ))


async def page_for(
    session: AsyncSession, organization_id: uuid.UUID, after: int | None, limit: int
) -> list[FeedEvent]:
    """Oldest first, after the given position."""
    query = select(FeedEvent).where(_visible_to(organization_id))
    if after is not None:
        query = query.where(FeedEvent.position > after)
    return list((await session.execute(query.order_by(FeedEvent.position).limit(limit))).scalars())


async def in_window(
    session: AsyncSession, organization_id: uuid.UUID, since: datetime, until: datetime,
    limit: int,
) -> list[FeedEvent]:
    query = select(FeedEvent).where(
        _visible_to(organization_id), FeedEvent.occurred_at >= since,
        FeedEvent.occurred_at < until,
    )
    return list((await session.execute(query.order_by(FeedEvent.position).limit(limit))).scalars())


async def by_event_id(session: AsyncSession, event_id: uuid.UUID) -> FeedEvent | None:
    return (await session.execute(
        select(FeedEvent).where(FeedEvent.event_id == event_id)
    )).scalar_one_or_none()


async def purge_recorded_before(session: AsyncSession, moment: datetime) -> None:
    await session.execute(delete(FeedAudience).where(FeedAudience.position.in_(
        select(FeedEvent.position).where(FeedEvent.recorded_at < moment)
    )))
    await session.execute(delete(FeedEvent).where(FeedEvent.recorded_at < moment))
