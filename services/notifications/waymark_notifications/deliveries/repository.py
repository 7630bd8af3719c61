import uuid
from datetime import datetime

from sqlalchemy import and_, func, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_notifications.deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from waymark_notifications.subscriptions.models import Subscription


def _sendable(busy: set[uuid.UUID]):
    condition = and_(Delivery.status == DeliveryStatus.pending, Subscription.enabled)
    return and_(condition, Delivery.subscription_id.not_in(busy)) if busy else condition


def _first_due_of_each_subscription(now: datetime, per_endpoint: int, busy: set[uuid.UUID]):
    """Index lookups per subscription, so a long backlog costs nothing to look at."""
    first_due = (
        select(Delivery.id)
        .where(Delivery.subscription_id == Subscription.id,
               Delivery.status == DeliveryStatus.pending, Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(per_endpoint)
        .correlate(Subscription)
        .lateral("first_due")
    )
    query = select(first_due.c.id).select_from(Subscription).join(first_due, true()).where(
        Subscription.enabled
    )
    return query.where(Subscription.id.not_in(busy)) if busy else query


async def due(
    session: AsyncSession, *, now: datetime, limit: int, per_endpoint: int, busy: set[uuid.UUID],
    lock: bool,
) -> list[tuple[Delivery, Subscription]]:
    """Up to `limit` due deliveries, at most `per_endpoint` of any one subscription and none of
    the `busy` ones, oldest first; with `lock`, rows another dispatcher holds are skipped."""
    is_due = and_(_sendable(busy), Delivery.next_attempt_at <= now)
    if session.bind.dialect.name == "postgresql":
        candidates = _first_due_of_each_subscription(now, per_endpoint, busy)
    else:  # SQLite has no LATERAL; its databases are small
        ranked = (
            select(Delivery.id, func.row_number().over(
                partition_by=Delivery.subscription_id,
                order_by=(Delivery.next_attempt_at, Delivery.id),
            ).label("rank"))
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .where(is_due)
            .subquery()
        )
        candidates = select(ranked.c.id).where(ranked.c.rank <= per_endpoint)
    # `due` again outside: a row leased by another dispatcher meanwhile is re-checked on lock.
    query = (
        select(Delivery, Subscription)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(is_due, Delivery.id.in_(candidates))
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True, of=Delivery)
    return [(delivery, subscription) for delivery, subscription in await session.execute(query)]


async def lease(session: AsyncSession, delivery_ids: list[uuid.UUID], until: datetime) -> None:
    """Leased deliveries are not due for anyone until the lease ends (or the attempt is logged)."""
    await session.execute(
        update(Delivery).where(Delivery.id.in_(delivery_ids)).values(next_attempt_at=until)
    )


async def release(session: AsyncSession, delivery_ids: list[uuid.UUID], now: datetime) -> None:
    """Leased deliveries that were not sent are due again at once."""
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.status == DeliveryStatus.pending)
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )


async def add_all(session: AsyncSession, deliveries: list[dict]) -> None:
    """One multi-row INSERT into the table, without the ORM's bulk path (a quarter of the
    cost of 50 rows went to it)."""
    if deliveries:
        await session.execute(insert(Delivery.__table__), deliveries)


async def mark_delivered(
    session: AsyncSession, delivery_ids: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, int]:
    """Delivered, in one statement; returns the attempt number of each (deleted ones absent)."""
    if not delivery_ids:
        return {}
    rows = await session.execute(
        update(Delivery).where(Delivery.id.in_(delivery_ids))
        .values(status=DeliveryStatus.delivered, attempts=Delivery.attempts + 1,
                next_attempt_at=None, updated_at=now)
        .returning(Delivery.id, Delivery.attempts)
        .execution_options(synchronize_session=False)
    )
    return dict(rows.tuples().all())


async def mark_attempt_failed(
    session: AsyncSession, delivery_id: uuid.UUID, next_attempt_at: datetime | None,
    now: datetime,
) -> int | None:
    """Pending again at `next_attempt_at`, or failed without one; returns the attempt number
    (None if the delivery was deleted)."""
    return (await session.execute(
        update(Delivery).where(Delivery.id == delivery_id)
        .values(
            status=DeliveryStatus.failed if next_attempt_at is None else DeliveryStatus.pending,
            attempts=Delivery.attempts + 1, next_attempt_at=next_attempt_at, updated_at=now,
        )
        .returning(Delivery.attempts)
        .execution_options(synchronize_session=False)
    )).scalar_one_or_none()


async def add_attempts(session: AsyncSession, attempts: list[dict]) -> None:
    """One multi-row INSERT into the table, like `add_all`."""
    if attempts:
        await session.execute(insert(DeliveryAttempt.__table__), attempts)


async def next_due_at(session: AsyncSession, busy: set[uuid.UUID]) -> datetime | None:
    return (await session.execute(
        select(func.min(Delivery.next_attempt_at))
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(_sendable(busy))
    )).scalar_one_or_none()


async def attempts_page(
    session: AsyncSession, subscription_id: uuid.UUID, limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[DeliveryAttempt]:
    """Newest first."""
    query = select(DeliveryAttempt).where(DeliveryAttempt.subscription_id == subscription_id)
    if after is not None:
        attempted_at, last_id = after
        query = query.where(or_(
            DeliveryAttempt.attempted_at < attempted_at,
            and_(DeliveryAttempt.attempted_at == attempted_at, DeliveryAttempt.id < last_id),
        ))
    query = query.order_by(DeliveryAttempt.attempted_at.desc(), DeliveryAttempt.id.desc())
    return list((await session.execute(query.limit(limit))).scalars())


async def by_ids(session: AsyncSession, delivery_ids: list[uuid.UUID]) -> dict[uuid.UUID, Delivery]:
    if not delivery_ids:
        return {}
    rows = await session.execute(select(Delivery).where(Delivery.id.in_(delivery_ids)))
    return {delivery.id: delivery for delivery in rows.scalars()}


async def purge_bodies_before(session: AsyncSession, moment: datetime) -> None:
    """Request bodies of finished deliveries older than the retention period are dropped."""
    await session.execute(
        update(Delivery)
        .where(Delivery.status != DeliveryStatus.pending, Delivery.created_at < moment,
               Delivery.body.is_not(None))
        .values(body=None)
    )


async def give_up_pending(session: AsyncSession, subscription_id: uuid.UUID) -> None:
    await session.execute(
        update(Delivery)
        .where(Delivery.subscription_id == subscription_id,
               Delivery.status == DeliveryStatus.pending)
        .values(status=DeliveryStatus.failed, next_attempt_at=None)
    )
