import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Row, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from waymark_kernel.db import AnyOf, Prepared
from waymark_kernel.keyset import Keyset

from waymark_notifications.subscriptions.models import Subscription


class Listener(NamedTuple):
    """What sending to a subscription needs of it, read without building its ORM object."""

    id: uuid.UUID
    url: str
    event_types: list[str]
    sealed_secret: str
    sealed_previous_secret: str | None
    previous_secret_expires_at: datetime | None


LISTENER_COLUMNS = tuple(getattr(Subscription, name) for name in Listener._fields)
_ALL_LISTENERS = Prepared(select(*LISTENER_COLUMNS).where(Subscription.enabled))
_LISTENERS_OF = Prepared(
    select(*LISTENER_COLUMNS).where(
        Subscription.enabled, AnyOf(Subscription.organization_id, "organization_ids")
    )
)
_CLEAR_FAILING = Prepared(
    update(Subscription)
    .where(AnyOf(Subscription.id, "subscription_ids"), Subscription.failing_since.is_not(None))
    .values(failing_since=None)
)


async def get_of_organization(
    session: AsyncSession, organization_id: uuid.UUID, subscription_id: uuid.UUID
) -> Subscription | None:
    return (await session.execute(
        select(Subscription).where(
            Subscription.id == subscription_id, Subscription.organization_id == organization_id
        )
    )).scalar_one_or_none()


_NEWEST_FIRST = Keyset(col(Subscription.created_at), col(Subscription.id), descending=True)


async def page_of_organization(
    session: AsyncSession, organization_id: uuid.UUID, limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Subscription]:
    """Newest first."""
    query = select(Subscription).where(Subscription.organization_id == organization_id)
    query = _NEWEST_FIRST.page(query, after, limit)
    return list((await session.execute(query)).scalars())


async def listeners(
    session: AsyncSession, organization_ids: set[uuid.UUID] | None
) -> list[Listener]:
    """The enabled subscriptions of these organisations (None: of all)."""
    if organization_ids is None:
        rows = await _ALL_LISTENERS.fetch(session)
    else:
        rows = await _LISTENERS_OF.fetch(session, organization_ids=list(organization_ids))
    return [Listener(*row) for row in rows]


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
        await _CLEAR_FAILING.execute(session, subscription_ids=list(subscription_ids))
