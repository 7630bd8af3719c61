import uuid
from datetime import datetime
from typing import ClassVar

from sqlalchemy import JSON, Index, Text
from sqlmodel import Field
from waymark_kernel.clock import UtcTimestamp

from waymark_referrals.actors.models import ActorColumns
from waymark_referrals.crypto import ErasableSealedColumns, SealedColumns


class Referral(ErasableSealedColumns, table=True):
    """Its free text (`reason`, and `status_reason` and `outcome` where they are not codes:
    caseworkers write about the person in it) is sealed as `ReferralTexts`; the sealed columns
    are emptied when it is erased."""

    __tablename__ = "referrals_referrals"
    __table_args__ = (
        Index("ix_referrals_referrals_sent", "sender_org_id", "created_at", "id"),
        Index("ix_referrals_referrals_received", "receiver_org_id", "created_at", "id"),
        Index("ix_referrals_referrals_deadline", "status", "respond_by"),
    )

    id: uuid.UUID = Field(primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="referrals_cases.id", index=True)
    sender_org_id: uuid.UUID
    receiver_org_id: uuid.UUID
    service_id: uuid.UUID | None = None
    from_country: str = Field(max_length=2)
    to_country: str = Field(max_length=2)
    migration_stage: str = Field(max_length=20)
    categories: list[str] = Field(sa_type=JSON)
    urgency: str = Field(max_length=20)
    shared_fields: list[str] = Field(sa_type=JSON)
    status: str = Field(max_length=20)
    # Codes only (schemas.split_code); free text is sealed.
    status_reason: str | None = Field(default=None, sa_type=Text)
    outcome: str | None = Field(default=None, sa_type=Text)
    parent_referral_id: uuid.UUID | None = Field(default=None, foreign_key="referrals_referrals.id")
    response_hours: int  # the answer is due this long after the referral is requested
    # null while a draft has never been requested
    requested_at: datetime | None = Field(default=None, sa_type=UtcTimestamp)
    respond_by: datetime | None = Field(default=None, sa_type=UtcTimestamp)
    overdue_announced: bool = False
    version: int
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UtcTimestamp)
    updated_at: datetime = Field(sa_type=UtcTimestamp)


class SharedPerson(SealedColumns, table=True):
    """The shared person fields, sealed when the referral is created; deleted on withdrawal."""

    __tablename__ = "referrals_shared_persons"

    referral_id: uuid.UUID = Field(primary_key=True, foreign_key="referrals_referrals.id")
    created_at: datetime = Field(sa_type=UtcTimestamp)


class ReferralTransition(ErasableSealedColumns, ActorColumns, table=True):
    """One step of the history; its free text (`note`, and `reason` and `outcome` where they
    are not codes) is sealed as `TransitionTexts`, and the sealed columns are empty where it had
    none or it was erased."""

    __tablename__ = "referrals_referral_transitions"
    SUBJECT: ClassVar[str] = "actor_subject"
    __table_args__ = (
        Index("ix_referrals_transitions_history", "referral_id", "occurred_at", "id"),
    )

    id: uuid.UUID = Field(primary_key=True)
    referral_id: uuid.UUID = Field(foreign_key="referrals_referrals.id")
    from_status: str | None = Field(default=None, max_length=20)  # null: the referral's creation
    to_status: str = Field(max_length=20)
    # Codes only (schemas.split_code); free text is sealed.
    reason: str | None = Field(default=None, sa_type=Text)
    outcome: str | None = Field(default=None, sa_type=Text)
    actor_subject: str = Field(max_length=200)
    actor_org_id: uuid.UUID | None = None
    occurred_at: datetime = Field(sa_type=UtcTimestamp)


class IdempotentRequest(ErasableSealedColumns, table=True):
    """A request sent with an Idempotency-Key (waymark_kernel.idempotency), per organisation,
    kept 24 hours: the fingerprint of what it asked, the referral it answered and its first
    answer, sealed (it holds the referral's free text; the person is not in it, but read afresh).
    The answer is empty once that free text is erased, and for the keys of creations carried
    over from before answers were kept (migration 0008): a replay then shows the referral as it
    is now."""

    __tablename__ = "referrals_idempotent_requests"

    organization_id: uuid.UUID = Field(primary_key=True)
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    referral_id: uuid.UUID
    created_at: datetime = Field(sa_type=UtcTimestamp, index=True)


def texts_record(referral_id: uuid.UUID) -> str:
    """What a referral's sealed texts are bound to: not its shared person's record."""
    return f"{referral_id}/texts"


def idempotency_record(organization_id: uuid.UUID, key: str) -> str:
    return f"{organization_id}/{key}"
