import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlmodel import Field, SQLModel


class StoredSession(SQLModel, table=True):
    """A person's session kept in the gateway's database (when no Redis is shared); the id is
    kept only as its SHA-256, and nothing in it names the person."""

    __tablename__ = "gateway_sessions"

    id_hash: str = Field(primary_key=True, max_length=64)
    person_id: uuid.UUID = Field(index=True)
    data: dict[str, Any] = Field(sa_type=JSON)
    last_seen_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
