"""The rows the referral statistics are computed from."""

import uuid
from datetime import datetime

from sqlalchemy import Row, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_referrals.referrals.models import Referral, ReferralTransition
from waymark_referrals.referrals.states import Status

ANSWERS = [Status.received, Status.accepted, Status.rejected]


async def requested_referrals(
    session: AsyncSession, organization_id: uuid.UUID | None, *, since: datetime | None,
    until: datetime | None,
) -> list[Row]:
    """Every referral ever requested (drafts are nobody's figures), with its first answer;
    with `organization_id`, only those it sent or received."""
    first_answer = (
        select(
            ReferralTransition.referral_id,
            func.min(ReferralTransition.occurred_at).label("answered_at"),
        )
        .where(ReferralTransition.to_status.in_(ANSWERS))
        .group_by(ReferralTransition.referral_id).subquery()
    )
    query = (
        select(
            Referral.from_country, Referral.to_country, Referral.status, Referral.categories,
            Referral.urgency, Referral.requested_at, Referral.respond_by,
            first_answer.c.answered_at,
        )
        .outerjoin(first_answer, first_answer.c.referral_id == Referral.id)
        .where(Referral.requested_at.is_not(None))
    )
    if organization_id is not None:
        query = query.where(or_(
            Referral.sender_org_id == organization_id, Referral.receiver_org_id == organization_id
        ))
    if since is not None:
        query = query.where(Referral.requested_at >= since)
    if until is not None:
        query = query.where(Referral.requested_at < until)
    return list((await session.execute(query)).all())
