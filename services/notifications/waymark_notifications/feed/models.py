import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, ForeignKey, Index, Integer
from sqlmodel import Field, SQLModel

# SQLite numbers rows itself only for an INTEGER primary key.
Position = BigInteger().with_variant(Integer(), "sqlite")


class FeedEvent(SQLModel, table=True):
    """An event as the feed serves it; `position` orders the feed and is its cursor."""

    __tablename__ = "notifications_feed_events"
    __table_args__ = {"sqlite_autoincrement": True}  # positions are never reused

    position: int | None = Field(
        default=None, sa_column=Column(Position, primary_key=True, autoincrement=True)
    )
    event_id: uuid.UUID = Field(unique=True)
    event_type: str = Field(max_length=100)
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    public: bool  # a public registry change: in every organisation's feed
    recorded_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )


class FeedAudience(SQLModel, table=True):
    """One row per organisation a non-public event concerns."""

    __tablename__ = "notifications_feed_audience"
    __table_args__ = (
        Index("ix_notifications_feed_audience_organization", "organization_id", "position"),
    )

    position: int = Field(sa_column=Column(
        Position, ForeignKey("notifications_feed_events.position", ondelete="CASCADE"),
        primary_key=True,
    ))
    organization_id: uuid.UUID = Field(primary_key=True)


class PendingFeedEvent(SQLModel, table=True):
    """An event recorded by the transaction that consumed it, waiting for its position: the
    positions are given in batches, so no consuming transaction holds the append lock."""

    __tablename__ = "notifications_feed_pending"

    event_id: uuid.UUID = Field(primary_key=True)
    event_type: str = Field(max_length=100)
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    public: bool
    organization_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
