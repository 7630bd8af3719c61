import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Text
from sqlmodel import Field, SQLModel


class Organization(SQLModel, table=True):
    __tablename__ = "registry_organizations"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    type: str = Field(max_length=30)
    country: str = Field(max_length=2)
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    website: str | None = Field(default=None, max_length=500)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    identifiers: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    verified: bool = False
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
