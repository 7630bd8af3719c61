import uuid
from datetime import datetime
from typing import ClassVar

from sqlalchemy import JSON, BigInteger, Index
from sqlmodel import Field
from waymark_kernel.clock import UtcTimestamp

from waymark_referrals.actors.models import ActorColumns


class Disclosure(ActorColumns, table=True):
    """One read of a person's data by an organisation other than the case's owner, or by a
    person of the owner (then with no referral).

    Append-only: each case's entries form a chain in `sequence` order, each hashing the one
    before, so appends to different cases never wait for each other."""

    __tablename__ = "referrals_disclosures"
    SUBJECT: ClassVar[str] = "reader_subject"
    __table_args__ = (Index("ix_referrals_disclosures_case", "case_id", "occurred_at", "id"),)

    case_id: uuid.UUID = Field(primary_key=True)
    sequence: int = Field(primary_key=True, sa_type=BigInteger)
    id: uuid.UUID = Field(unique=True)
    owner_org_id: uuid.UUID
    reader_org_id: uuid.UUID
    reader_subject: str = Field(max_length=200)
    referral_id: uuid.UUID | None = None
    fields: list[str] = Field(sa_type=JSON)
    legal_basis: str | None = Field(default=None, max_length=40)
    occurred_at: datetime = Field(sa_type=UtcTimestamp)
    previous_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)
