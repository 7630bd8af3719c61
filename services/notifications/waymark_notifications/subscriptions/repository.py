import uuid
from datetime import datetime

from sqlalchemy import Row, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_notifications.subscriptions.models import Subscription


async def get_of_organization(
    session: AsyncSession, organization_id: uuid.UUID, subscription_id: uuid.UUID
) -> Subscription | None:
    return (await session.execute(
        select(Subscription).where(
            Subscription.id == subscription_id, Subscription.organization_id == organization_id
        )
    )).scalar_one_or_none()


async def page_of_organization(
    session: AsyncSession, organization_id: uuid.UUID, limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Subscription]:
    """Newest first."""
    query = select(Subscription).where(Subscription.organization_id == organization_id)
    if after is not None:
        created_at, last_id = after
        query = query.where(or_(
            Subscription.created_at < created_at,
            and_(Subscription.created_at == created_at, Subscription.id < last_id),
        ))
    query = query.order_by(Subscription.created_at.desc(), Subscription.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def listeners(
    session: AsyncSession, organization_ids: set[uuid.UUID] | None
) -> list[Subscription]:
    """The enabled subscriptions of these organisations (None: of all)."""
    query = select(Subscription).where(Subscription.enabled)
    if organization_ids is not None:
        query = query.where(Subscription.organization_id.in_(organization_ids))
    return list((await session.execute(query)).scalars())


async def disable(
    session: AsyncSession, subscription_id: uuid.UUID, reason: str, now: datetime
) -> uuid.UUID | None:
    """Disable if still enabled; returns its organisation when this call disabled it."""
    return (await session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id, Subscription.enabled)
        .values(enabled=False, disabled_reason=reason, updated_at=now)
        .returning(Subscription.organization_id)
    )).scalar_one_or_none()


async def mark_failing(
    session: AsyncSession, subscription_id: uuid.UUID, now: datetime
) -> Row[tuple[datetime, bool]] | None:
    """Start the run of failures unless one is running; returns (failing_since, enabled)."""
    return (await session.execute(
        update(Subscription)
        .where(Subscription.id == subscription_id)
        .values(failing_since=func.coalesce(Subscription.failing_since, now))
        .returning(Subscription.failing_since, Subscription.enabled)
    )).one_or_none()


async def clear_failing(session: AsyncSession, subscription_ids: set[uuid.UUID]) -> None:
    """Ends their runs of failures; rows without one are neither written nor locked."""
    if subscription_ids:
        await session.execute(
            update(Subscription)
            .where(Subscription.id.in_(subscription_ids), Subscription.failing_since.is_not(None))
            .values(failing_since=None)
            .execution_options(synchronize_session=False)
        )
