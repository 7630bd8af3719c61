import uuid
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from waymark_referrals.actors.schemas import Actor


class DisclosureRead(BaseModel):
    id: uuid.UUID
    sequence: int = Field(description="Position in the case's hash chain, from 1.")
    case_id: uuid.UUID
    referral_id: uuid.UUID | None = Field(
        description="The referral it was shown under; null for a read of the case itself."
    )
    reader_org_id: uuid.UUID
    reader_subject: str
    actor: Actor = Field(description="Who read: the person, or the organisation's API client.")
    fields: list[str] = Field(description="The person fields that were shown.")
    legal_basis: str | None
    occurred_at: datetime
    previous_hash: str
    entry_hash: str


@dataclass(frozen=True)
class PersonalRead:
    """A person's shared fields shown to a reader under a referral."""

    case_id: uuid.UUID
    owner_org_id: uuid.UUID
    referral_id: uuid.UUID | None
    fields: list[str]
    legal_basis: str | None


@dataclass(frozen=True)
class LedgerCheck:
    entries: int
    broken_at: tuple[uuid.UUID, int] | None  # the case and sequence of the first bad entry
    problem: str | None

    @property
    def intact(self) -> bool:
        return self.broken_at is None
