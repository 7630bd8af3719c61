import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Index, String, Text
from sqlmodel import Field, SQLModel

from waymark_kernel.messaging.outbox import TRACEPARENT_LENGTH


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class Delivery(SQLModel, table=True):
    """One event for one subscription; its id is the `webhook-id`, the same on every attempt."""

    __tablename__ = "notifications_deliveries"
    __table_args__ = (
        Index("ix_notifications_deliveries_due", "status", "next_attempt_at"),
        Index(
            "ix_notifications_deliveries_due_per_subscription", "subscription_id", "status",
            "next_attempt_at", "id",
        ),
    )

    id: uuid.UUID = Field(primary_key=True)
    subscription_id: uuid.UUID = Field(
        foreign_key="notifications_subscriptions.id", ondelete="CASCADE", index=True
    )
    event_id: uuid.UUID
    event_type: str = Field(max_length=100)
    # Signed exactly as stored; purged after the retention period once no longer pending.
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(
        default=DeliveryStatus.pending, sa_column=Column(String(20), nullable=False)
    )
    attempts: int = 0
    retry_base: int = 0  # attempts made before the last replay; the schedule restarts there
    retries: bool = True  # False for `webhook.test`: one attempt, reported to the caller
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # The W3C trace context of the event's consumer: each attempt's span is its child.
    traceparent: str | None = Field(
        default=None, sa_column=Column(String(TRACEPARENT_LENGTH), nullable=True)
    )
    tracestate: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "notifications_delivery_attempts"
    __table_args__ = (
        Index("ix_notifications_delivery_attempts_log", "subscription_id", "attempted_at", "id"),
    )

    id: uuid.UUID = Field(primary_key=True)
    delivery_id: uuid.UUID = Field(
        foreign_key="notifications_deliveries.id", ondelete="CASCADE", index=True
    )
    subscription_id: uuid.UUID = Field(
        foreign_key="notifications_subscriptions.id", ondelete="CASCADE"
    )
    event_id: uuid.UUID
    event_type: str = Field(max_length=100)
    attempt: int
    attempted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    status_code: int | None = None
    duration_ms: int
    succeeded: bool
    error: str | None = Field(default=None, max_length=200)
    response_excerpt: str | None = Field(default=None, max_length=200)
