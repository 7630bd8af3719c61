"""The rows the referral statistics are computed from."""

import uuid
from datetime import datetime

from sqlalchemy import Row, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from waymark_referrals.referrals.models import Referral, ReferralTransition
from waymark_referrals.referrals.states import Status

ANSWERS = [Status.received, Status.accepted, Status.rejected]
# from_country, to_country, status, categories, urgency, requested_at, respond_by, answered_at
RequestedRow = Row[
    tuple[str, str, str, list[str], str, datetime | None, datetime | None, datetime | None]
]


async def requested_referrals(
    session: AsyncSession, organization_id: uuid.UUID | None, *, since: datetime | None,
    until: datetime | None,
) -> list[RequestedRow]:
    """Every referral ever requested (drafts are nobody's figures), with its first answer;
    with `organization_id`, only those it sent or received."""
    first_answer = (
        select(
            col(ReferralTransition.referral_id),
            func.min(col(ReferralTransition.occurred_at)).label("answered_at"),
        )
        .where(col(ReferralTransition.to_status).in_(ANSWERS))
        .group_by(col(ReferralTransition.referral_id)).subquery()
    )
    query = (
        select(
            col(Referral.from_country), col(Referral.to_country), col(Referral.status),
            col(Referral.categories), col(Referral.urgency), col(Referral.requested_at),
            col(Referral.respond_by), first_answer.c.answered_at,
        )
        .outerjoin(first_answer, first_answer.c.referral_id == col(Referral.id))
        .where(col(Referral.requested_at).is_not(None))
    )
    if organization_id is not None:
        query = query.where(or_(
            col(Referral.sender_org_id) == organization_id,
            col(Referral.receiver_org_id) == organization_id,
        ))
    if since is not None:
        query = query.where(col(Referral.requested_at) >= since)
    if until is not None:
        query = query.where(col(Referral.requested_at) < until)
    return list((await session.execute(query)).all())
