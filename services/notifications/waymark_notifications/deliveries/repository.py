import uuid
from datetime import datetime

from sqlalchemy import and_, bindparam, func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from waymark_kernel.db import AnyOf, Prepared
from waymark_kernel.keyset import Keyset

from waymark_notifications.deliveries.models import Delivery, DeliveryAttempt, DeliveryStatus
from waymark_notifications.subscriptions.models import Subscription
from waymark_notifications.subscriptions.repository import LISTENER_COLUMNS, Listener


OUTGOING_COLUMNS = (
    Delivery.id, Delivery.subscription_id, Delivery.event_id, Delivery.event_type, Delivery.body,
    Delivery.attempts, Delivery.retry_base, Delivery.retries, Delivery.traceparent,
    Delivery.tracestate,
)
_SENDABLE = and_(
    Delivery.status == DeliveryStatus.pending, Subscription.enabled,
    ~AnyOf(Subscription.id, "busy"),
)
_IS_DUE = and_(_SENDABLE, Delivery.next_attempt_at <= bindparam("now"))


def _due_statement(on_postgresql: bool) -> Prepared:
    """Up to `limit` due deliveries, at most `per_endpoint` of any one subscription and none of
    the `busy` ones, oldest first; on PostgreSQL rows another dispatcher holds are skipped."""
    if on_postgresql:  # index lookups per subscription: a long backlog costs nothing to look at
        first_due = (
            select(Delivery.id)
            .where(Delivery.subscription_id == Subscription.id,
                   Delivery.status == DeliveryStatus.pending,
                   Delivery.next_attempt_at <= bindparam("now"))
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(bindparam("per_endpoint"))
            .correlate(Subscription)
            .lateral("first_due")
        )
        candidates = select(first_due.c.id).select_from(Subscription).join(
            first_due, true()
        ).where(Subscription.enabled, ~AnyOf(Subscription.id, "busy"))
    else:  # SQLite has no LATERAL; its databases are small
        ranked = (
            select(Delivery.id, func.row_number().over(
                partition_by=Delivery.subscription_id,
                order_by=(Delivery.next_attempt_at, Delivery.id),
            ).label("rank"))
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .where(_IS_DUE)
            .subquery()
        )
        candidates = select(ranked.c.id).where(ranked.c.rank <= bindparam("per_endpoint"))
    # `due` again outside: a row leased by another dispatcher meanwhile is re-checked on lock.
    query = (
        select(*OUTGOING_COLUMNS, *LISTENER_COLUMNS)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(_IS_DUE, Delivery.id.in_(candidates))
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(bindparam("limit"))
    )
    if on_postgresql:
        query = query.with_for_update(skip_locked=True, of=Delivery)
    return Prepared(query, only_on="postgresql" if on_postgresql else "sqlite")


_DUE = {True: _due_statement(True), False: _due_statement(False)}
_LEASE = Prepared(
    update(Delivery).where(AnyOf(Delivery.id, "ids")).values(next_attempt_at=bindparam("until"))
)
_RELEASE = Prepared(
    update(Delivery)
    .where(AnyOf(Delivery.id, "ids"), Delivery.status == DeliveryStatus.pending)
    .values(next_attempt_at=bindparam("now"))
)
_MARK_DELIVERED = Prepared(
    update(Delivery).where(AnyOf(Delivery.id, "ids"))
    .values(status=DeliveryStatus.delivered, attempts=Delivery.attempts + 1,
            next_attempt_at=None, updated_at=bindparam("now"))
    .returning(Delivery.id, Delivery.attempts)
)
_MARK_ATTEMPT_FAILED = Prepared(
    update(Delivery).where(Delivery.id == bindparam("id"))
    .values(status=bindparam("status"), attempts=Delivery.attempts + 1,
            next_attempt_at=bindparam("next_attempt_at"), updated_at=bindparam("now"))
    .returning(Delivery.attempts)
)
_NEXT_DUE_AT = Prepared(
    select(func.min(Delivery.next_attempt_at))
    .join(Subscription, Subscription.id == Delivery.subscription_id)
    .where(_SENDABLE)
)
DELIVERY_ROW = (
    "id", "subscription_id", "event_id", "event_type", "body", "status", "attempts",
    "retry_base", "retries", "next_attempt_at", "created_at", "updated_at", "traceparent",
    "tracestate",
)
ATTEMPT_ROW = (
    "id", "delivery_id", "subscription_id", "event_id", "event_type", "attempt", "attempted_at",
    "status_code", "duration_ms", "succeeded", "error", "response_excerpt",
)
_ADD_DELIVERIES = Prepared(insert(Delivery.__table__), columns=DELIVERY_ROW)
_ADD_ATTEMPTS = Prepared(insert(DeliveryAttempt.__table__), columns=ATTEMPT_ROW)


async def due(
    session: AsyncSession, *, now: datetime, limit: int, per_endpoint: int, busy: set[uuid.UUID],
) -> list[tuple[tuple, Listener]]:
    """Due deliveries (their `OUTGOING_COLUMNS`) with their subscriptions; see `_due_statement`."""
    rows = await _DUE[session.bind.dialect.name == "postgresql"].fetch(
        session, now=now, limit=limit, per_endpoint=per_endpoint, busy=list(busy)
    )
    split = len(OUTGOING_COLUMNS)
    return [(tuple(row[:split]), Listener(*row[split:])) for row in rows]


async def lease(session: AsyncSession, delivery_ids: list[uuid.UUID], until: datetime) -> None:
    """Leased deliveries are not due for anyone until the lease ends (or the attempt is logged)."""
    await _LEASE.execute(session, ids=delivery_ids, until=until)


async def release(session: AsyncSession, delivery_ids: list[uuid.UUID], now: datetime) -> None:
    """Leased deliveries that were not sent are due again at once."""
    await _RELEASE.execute(session, ids=delivery_ids, now=now)


async def add_all(session: AsyncSession, deliveries: list[dict]) -> None:
    """Rows with every column of `DELIVERY_ROW`."""
    await _ADD_DELIVERIES.execute_many(session, deliveries)


async def mark_delivered(
    session: AsyncSession, delivery_ids: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, int]:
    """Delivered, in one statement; returns the attempt number of each (deleted ones absent)."""
    if not delivery_ids:
        return {}
    return dict(await _MARK_DELIVERED.fetch(session, ids=delivery_ids, now=now))


async def mark_attempt_failed(
    session: AsyncSession, delivery_id: uuid.UUID, next_attempt_at: datetime | None,
    now: datetime,
) -> int | None:
    """Pending again at `next_attempt_at`, or failed without one; returns the attempt number
    (None if the delivery was deleted)."""
    status = DeliveryStatus.failed if next_attempt_at is None else DeliveryStatus.pending
    rows = await _MARK_ATTEMPT_FAILED.fetch(
        session, id=delivery_id, status=status, next_attempt_at=next_attempt_at, now=now
    )
    return rows[0][0] if rows else None


async def add_attempts(session: AsyncSession, attempts: list[dict]) -> None:
    """Rows with every column of `ATTEMPT_ROW`."""
    await _ADD_ATTEMPTS.execute_many(session, attempts)


async def next_due_at(session: AsyncSession, busy: set[uuid.UUID]) -> datetime | None:
    return (await _NEXT_DUE_AT.fetch(session, busy=list(busy)))[0][0]


_NEWEST_ATTEMPTS_FIRST = Keyset(
    col(DeliveryAttempt.attempted_at), col(DeliveryAttempt.id), descending=True
)


async def attempts_page(
    session: AsyncSession, subscription_id: uuid.UUID, limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[DeliveryAttempt]:
    """Newest first."""
    query = select(DeliveryAttempt).where(DeliveryAttempt.subscription_id == subscription_id)
    query = _NEWEST_ATTEMPTS_FIRST.page(query, after, limit)
    return list((await session.execute(query)).scalars())


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
