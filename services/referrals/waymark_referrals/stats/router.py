from typing import Annotated

from fastapi import APIRouter, Query

from waymark_kernel.auth import CurrentIdentity
from waymark_kernel.db import SessionDep
from waymark_referrals.stats import service
from waymark_referrals.stats.schemas import GroupBy, ReferralStats
from waymark_referrals.vocabulary import Moment

router = APIRouter(prefix="/v1/stats", tags=["stats"])


@router.get("/referrals")
async def referral_stats(
    session: SessionDep, identity: CurrentIdentity, group_by: GroupBy,
    since: Annotated[Moment | None, Query(description="requested at or after")] = None,
    until: Annotated[Moment | None, Query(description="requested before")] = None,
) -> ReferralStats:
    """Counts of requested referrals by corridor (from → to country), status, category, month
    or urgency, with the median time to the first answer and the share answered by respond_by.
    An organisation sees the referrals it sent or received; the network admin, the network's.
    Counts from 1 to 4 read "<5"; no total is given that would reveal a suppressed cell."""
    return await service.referral_stats(
        session, identity, identity.organization_id, group_by, since=since, until=until
    )
