"""Referral statistics for the programme, with small cells suppressed: a count from 1 to 4 is
"<5", figures derived from fewer than 5 referrals are null, and the total is withheld whenever a
suppressed cell could be recovered from it by subtraction."""

import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.auth import Identity
from waymark_kernel.clock import utcnow
from waymark_kernel.problems import Forbidden
from waymark_referrals.stats import repository
from waymark_referrals.stats.repository import RequestedRow
from waymark_referrals.stats.schemas import (
    SUPPRESSED,
    Count,
    GroupBy,
    ReferralStats,
    StatsGroup,
)

SMALLEST_PUBLISHED = 5


def _keys(row: RequestedRow, group_by: GroupBy) -> list[dict[str, str]]:
    match group_by:
        case GroupBy.corridor:
            return [{"from_country": row.from_country, "to_country": row.to_country}]
        case GroupBy.status:
            return [{"status": row.status}]
        case GroupBy.category:
            return [{"category": category} for category in row.categories] or [{"category": ""}]
        case GroupBy.month:
            return [{"month": row.requested_at.astimezone(UTC).strftime("%Y-%m")}]
        case GroupBy.urgency:
            return [{"urgency": row.urgency}]


def _count(count: int) -> Count:
    return SUPPRESSED if 0 < count < SMALLEST_PUBLISHED else count


def _figures(rows: list[RequestedRow], now: datetime) -> tuple[float | None, float | None]:
    """Median hours to the first answer, and the share answered by respond_by among those
    answered or already due; None where fewer than 5 referrals would make the figure."""
    hours = [
        (row.answered_at - row.requested_at) / timedelta(hours=1)
        for row in rows if row.answered_at is not None
    ]
    judged = [row for row in rows if row.answered_at is not None or row.respond_by < now]
    in_time = [
        row for row in judged if row.answered_at is not None and row.answered_at <= row.respond_by
    ]
    median = round(statistics.median(hours), 2) if len(hours) >= SMALLEST_PUBLISHED else None
    share = round(len(in_time) / len(judged), 3) if len(judged) >= SMALLEST_PUBLISHED else None
    return median, share


GroupKey = tuple[tuple[str, str], ...]
Group = tuple[dict[str, str], list[RequestedRow]]  # a group's key and its members


def _group(rows: Iterable[RequestedRow], group_by: GroupBy) -> dict[GroupKey, Group]:
    groups: dict[GroupKey, Group] = defaultdict(lambda: ({}, []))
    for row in rows:
        for key in _keys(row, group_by):
            identity = tuple(sorted(key.items()))
            groups[identity][0].update(key)
            groups[identity][1].append(row)
    return groups


def _has_small_cell(rows: list[RequestedRow]) -> bool:
    """The total is the same under every grouping: published under one, it would reveal a
    small cell of another by subtraction, so any small cell anywhere withholds it."""
    return any(
        0 < len(members) < SMALLEST_PUBLISHED
        for group_by in GroupBy for _, members in _group(rows, group_by).values()
    )


async def referral_stats(
    session: AsyncSession, identity: Identity, organization_id: uuid.UUID | None,
    group_by: GroupBy, *, since: datetime | None, until: datetime | None,
) -> ReferralStats:
    """The network admin sees the network's figures; everyone else their organisation's."""
    network = identity.is_network_admin
    if not network and organization_id is None:
        raise Forbidden("Statistics are given to an organisation or to the network admin.")
    rows = await repository.requested_referrals(
        session, None if network else organization_id, since=since, until=until
    )
    now = utcnow()
    groups = []
    for _, (key, members) in sorted(_group(rows, group_by).items()):
        small = len(members) < SMALLEST_PUBLISHED
        median, share = (None, None) if small else _figures(members, now)
        groups.append(StatsGroup(
            key=key, count=_count(len(members)), median_hours_to_response=median,
            answered_within_respond_by=share,
        ))
    median, share = _figures(rows, now)
    return ReferralStats(
        scope="network" if network else "organization", group_by=group_by, groups=groups,
        total=None if _has_small_cell(rows) else _count(len(rows)),
        median_hours_to_response=median, answered_within_respond_by=share,
    )
