"""Every query of comments."""

import uuid

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.api import TimestampPosition

from waymark_referrals.comments.models import Comment


async def thread(
    session: AsyncSession, referral_id: uuid.UUID, *, after: TimestampPosition | None, limit: int
) -> list[Comment]:
    query = select(Comment).where(Comment.referral_id == referral_id)
    if after is not None:
        created_at, comment_id = after
        query = query.where(or_(
            Comment.created_at > created_at,
            and_(Comment.created_at == created_at, Comment.id > comment_id),
        ))
    query = query.order_by(Comment.created_at, Comment.id).limit(limit)
    return list((await session.execute(query)).scalars())


async def erase_texts(session: AsyncSession, referral_ids: Select) -> None:
    """Empties the sealed text of every comment on these referrals; who wrote when stays."""
    await session.execute(
        update(Comment)
        .where(Comment.referral_id.in_(referral_ids), Comment.ciphertext.is_not(None))
        .values(key_id=None, wrapped_key=None, ciphertext=None)
    )
