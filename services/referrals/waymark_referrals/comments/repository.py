"""Every query of comments."""

import uuid

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from waymark_kernel.api import TimestampPosition
from waymark_kernel.keyset import Keyset
from waymark_referrals.comments.models import Comment

_OLDEST_FIRST = Keyset(col(Comment.created_at), col(Comment.id))


async def thread(
    session: AsyncSession, referral_id: uuid.UUID, *, after: TimestampPosition | None, limit: int
) -> list[Comment]:
    query = select(Comment).where(col(Comment.referral_id) == referral_id)
    query = _OLDEST_FIRST.page(query, after, limit)
    return list((await session.execute(query)).scalars())


async def erase_texts(session: AsyncSession, referral_ids: Select[tuple[uuid.UUID]]) -> None:
    """Empties the sealed text of every comment on these referrals; who wrote when stays."""
    await session.execute(
        update(Comment)
        .where(col(Comment.referral_id).in_(referral_ids), col(Comment.ciphertext).is_not(None))
        .values(key_id=None, wrapped_key=None, ciphertext=None)
    )
