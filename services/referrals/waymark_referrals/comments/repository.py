"""Every query of comments."""

import uuid

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_referrals.comments.models import Comment
from waymark_referrals.paging import Position


async def thread(
    session: AsyncSession, referral_id: uuid.UUID, *, after: Position | None, limit: int
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
