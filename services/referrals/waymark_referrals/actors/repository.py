"""Every query of the sealed names of people who acted."""

import uuid
from collections.abc import Collection

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from waymark_kernel.db import changed_rows
from waymark_referrals.actors.models import ActorName


async def latest_name(session: AsyncSession, person_id: str) -> ActorName | None:
    query = (
        select(ActorName).where(col(ActorName.person_id) == person_id)
        .order_by(col(ActorName.recorded_at).desc()).limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def add_name(session: AsyncSession, name: ActorName) -> None:
    session.add(name)
    await session.flush()


async def names(session: AsyncSession, name_ids: Collection[uuid.UUID]) -> list[ActorName]:
    if not name_ids:
        return []
    query = select(ActorName).where(col(ActorName.id).in_(list(name_ids)))
    return list((await session.execute(query)).scalars())


async def pseudonym_of(session: AsyncSession, person_id: str) -> str | None:
    query = select(col(ActorName.pseudonym)).where(
        col(ActorName.person_id) == person_id, col(ActorName.pseudonym).is_not(None)
    ).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def erase_names(session: AsyncSession, person_id: str, pseudonym: str) -> int:
    """Replaces every sealed name of the person by her pseudonym; returns how many."""
    return await changed_rows(session, (
        update(ActorName)
        .where(col(ActorName.person_id) == person_id, col(ActorName.ciphertext).is_not(None))
        .values(key_id=None, wrapped_key=None, ciphertext=None, pseudonym=pseudonym)
    ))
