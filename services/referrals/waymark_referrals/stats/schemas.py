from enum import StrEnum
from typing import Final, Literal

from pydantic import BaseModel, Field

SUPPRESSED: Final = "<5"
Count = int | Literal["<5"]


class GroupBy(StrEnum):
    corridor = "corridor"
    status = "status"
    category = "category"
    month = "month"
    urgency = "urgency"


class StatsGroup(BaseModel):
    key: dict[str, str] = Field(
        description='e.g. {"from_country": "NP", "to_country": "LB"} or {"month": "2026-11"}'
    )
    count: Count = Field(description='Counts from 1 to 4 read "<5".')
    median_hours_to_response: float | None = Field(
        description="From request to the receiver's first answer; null under 5 answers."
    )
    answered_within_respond_by: float | None = Field(
        description="Share (0–1) of the referrals due or answered that were answered in time; "
        "null under 5 such referrals."
    )


class ReferralStats(BaseModel):
    scope: Literal["organization", "network"]
    group_by: GroupBy
    groups: list[StatsGroup]
    total: Count | None = Field(
        description="Referrals counted (a referral with two categories counts once); null when "
        "any grouping of these referrals has a suppressed cell, which the total would reveal "
        "by subtraction."
    )
    median_hours_to_response: float | None
    answered_within_respond_by: float | None
