import uuid
from datetime import datetime

from sqlalchemy import JSON, Column, DateTime, Text
from sqlmodel import Field, SQLModel

ENDPOINT_GONE = "endpoint_gone"
FAILED_TOO_LONG = "failed_for_5_days"
DISABLED_BY_ORGANIZATION = "disabled_by_organization"


class Subscription(SQLModel, table=True):
    __tablename__ = "notifications_subscriptions"

    id: uuid.UUID = Field(primary_key=True)
    organization_id: uuid.UUID = Field(index=True)
    url: str = Field(max_length=2048)
    event_types: list[str] = Field(sa_column=Column(JSON, nullable=False))
    description: str | None = Field(default=None, max_length=500)
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=50)
    sealed_secret: str = Field(sa_column=Column(Text, nullable=False))
    # After a rotation the previous secret keeps signing beside the new one until this moment.
    sealed_previous_secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    previous_secret_expires_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # Start of the current run of failed attempts; cleared by any success.
    failing_since: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
