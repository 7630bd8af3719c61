import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Text
from sqlmodel import Field, SQLModel


class HsdsSource(SQLModel, table=True):
    """An HSDS 3.0 API the registry synchronises from on a schedule."""

    __tablename__ = "registry_hsds_sources"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    url: str = Field(max_length=500, unique=True)
    interval_minutes: int
    crosswalks: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    enabled: bool = True
    version: int = 1
    next_run_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # A scheduler syncing the source holds it until then: no other starts meanwhile.
    leased_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class SourceRun(SQLModel, table=True):
    """One synchronisation of a source: running, succeeded or failed."""

    __tablename__ = "registry_hsds_source_runs"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    source_id: uuid.UUID = Field(
        foreign_key="registry_hsds_sources.id", ondelete="CASCADE", index=True
    )
    started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    outcome: str = Field(default="running", max_length=20)
    report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
