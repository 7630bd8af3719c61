import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class InboxNotification(SQLModel, table=True):
    """What a caseworker of the organisation is shown about one event; no personal data."""

    __tablename__ = "notifications_inbox"
    __table_args__ = (
        UniqueConstraint("organization_id", "event_id"),
        Index("ix_notifications_inbox_list", "organization_id", "created_at", "id"),
        Index("ix_notifications_inbox_email", "email_pending"),
    )

    id: uuid.UUID = Field(primary_key=True)
    organization_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str = Field(max_length=100)
    summary: str = Field(max_length=200)
    referral_id: uuid.UUID | None = None
    subscription_id: uuid.UUID | None = None
    reason: str | None = Field(default=None, max_length=50)
    urgency: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    read_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    email_pending: bool = False  # an urgent or overdue referral still to be emailed
    email_attempts: int = 0  # failed attempts to email it
    email_next_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class OrganizationContact(SQLModel, table=True):
    """The registry's public contact address of each organisation, kept from its events."""

    __tablename__ = "notifications_organizations"

    id: uuid.UUID = Field(primary_key=True)
    email: str | None = Field(default=None, max_length=320)
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
