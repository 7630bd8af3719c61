import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


class Person(SQLModel, table=True):
    """A person's account. Name and email are sealed; the email is found by its fingerprint."""

    __tablename__ = "gateway_people"
    __table_args__ = (UniqueConstraint("external_provider", "external_subject"),)

    id: uuid.UUID = Field(primary_key=True)
    organization_id: uuid.UUID = Field(index=True)
    email_fingerprint: str = Field(max_length=64, unique=True)
    email_sealed: bytes = Field(sa_type=LargeBinary)
    name_sealed: bytes = Field(sa_type=LargeBinary)
    roles: list[str] = Field(sa_type=JSON)
    password_hash: str = Field(max_length=255)
    totp_secret_sealed: bytes | None = Field(default=None, sa_type=LargeBinary)
    totp_last_step: int | None = None
    # Offered at a sign-in after a second-factor reset, enrolled by the next sign-in's code.
    totp_pending_sealed: bytes | None = Field(default=None, sa_type=LargeBinary)
    # A person of the demo network may sign in without a second factor (demo mode only).
    second_factor_waived: bool = False
    active: bool = True
    # Who the person is at her organisation's own OpenID Connect provider, when she signs in there.
    external_provider: str | None = Field(default=None, max_length=64)
    external_subject: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    last_sign_in_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    deactivated_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # A deleted account stays as this tombstone (its id, so audit entries still resolve), with
    # nothing personal left; her pseudonym is the one the referrals service gave her records.
    deleted_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    pseudonym: str | None = Field(default=None, max_length=40)


class Invitation(SQLModel, table=True):
    """A single-use invitation; only the SHA-256 of its token is kept."""

    __tablename__ = "gateway_invitations"

    id: uuid.UUID = Field(primary_key=True)
    organization_id: uuid.UUID = Field(index=True)
    token_hash: str = Field(max_length=64, unique=True)
    email_fingerprint: str = Field(max_length=64, index=True)
    email_sealed: bytes = Field(sa_type=LargeBinary)
    roles: list[str] = Field(sa_type=JSON)
    second_factor_waived: bool = False
    invited_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
    accepted_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class RecoveryCode(SQLModel, table=True):
    """A one-time recovery code, kept as its keyed fingerprint."""

    __tablename__ = "gateway_recovery_codes"

    fingerprint: str = Field(primary_key=True, max_length=64)
    person_id: uuid.UUID = Field(index=True)
    used_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class PendingErasure(SQLModel, table=True):
    """A deleted person whose names the referrals service has not yet replaced by her pseudonym."""

    __tablename__ = "gateway_pending_erasures"

    person_id: uuid.UUID = Field(primary_key=True)
    requested_at: datetime = Field(sa_type=DateTime(timezone=True))
    # No replica tries it again before then: a claim pushes it forward, a failure backs off.
    next_attempt_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    attempts: int = 0
