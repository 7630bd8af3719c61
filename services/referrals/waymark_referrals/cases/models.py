import uuid
from datetime import datetime

from typing import ClassVar

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel
from waymark_kernel.clock import UtcTimestamp

from waymark_referrals.actors.models import ActorColumns
from waymark_referrals.crypto import SealedColumns


class Case(SealedColumns, ActorColumns, table=True):
    """Person, vulnerabilities and consent are sealed; only what queries need stays clear.
    Its actor is who created it."""

    __tablename__ = "referrals_cases"
    SUBJECT: ClassVar[str] = "created_by"
    __table_args__ = (
        UniqueConstraint("organization_id", "reference", name="uq_referrals_cases_reference"),
        Index("ix_referrals_cases_listing", "organization_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(primary_key=True)
    organization_id: uuid.UUID
    reference: str = Field(max_length=32)
    legal_basis: str | None = Field(default=None, max_length=40)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UtcTimestamp)
    updated_at: datetime = Field(sa_type=UtcTimestamp)


class CaseSequence(SQLModel, table=True):
    """The last case number given per organisation, country and year."""

    __tablename__ = "referrals_case_sequences"

    organization_id: uuid.UUID = Field(primary_key=True)
    country: str = Field(primary_key=True, max_length=2)
    year: int = Field(primary_key=True)
    last_value: int
