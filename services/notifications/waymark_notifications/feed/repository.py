import uuid
from datetime import datetime

from sqlalchemy import ARRAY, Uuid, delete, func, insert, literal, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_notifications.feed.models import FeedAudience, FeedEvent


APPEND_LOCK = 7213505


async def append(session: AsyncSession, event: dict, organization_ids: set[uuid.UUID]) -> None:
    """Appends commit in position order: each takes a lock held until its commit, so a reader
    past a position never misses a smaller one committed later. On PostgreSQL the lock, the
    event and its audience are one statement; SQLite serialises writers anyway."""
    if session.bind.dialect.name != "postgresql":
        position = (await session.execute(
            insert(FeedEvent).values(**event).returning(FeedEvent.position)
        )).scalar_one()
        if organization_ids:
            await session.execute(insert(FeedAudience), [
                {"position": position, "organization_id": organization_id}
                for organization_id in organization_ids
            ])
        return
    locked = select(func.pg_advisory_xact_lock(APPEND_LOCK).label("locked")).cte("locked")
    columns = FeedEvent.__table__.c
    # The row comes from `locked`, so the lock is taken before the position is drawn.
    appended = insert(FeedEvent).from_select(list(event), select(*(
        literal(value, columns[name].type) for name, value in event.items()
    )).select_from(locked))
    if not organization_ids:
        await session.execute(appended)
        return
    appended = appended.returning(FeedEvent.position).cte("appended")
    audience = func.unnest(literal(list(organization_ids), ARRAY(Uuid()))).table_valued(
        "organization_id"
    ).render_derived()
    await session.execute(insert(FeedAudience).from_select(
        ["position", "organization_id"],
        select(appended.c.position, audience.c.organization_id).select_from(appended)
        .join(audience, true()),
    ))


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
