import uuid
from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel


class AuditEntry(SQLModel, table=True):
    """Who did what to whom, when, from where, with which result. `actor` and `target` are ids
    (a person's, a client's, an invitation's) or, for an unknown email, its fingerprint."""

    __tablename__ = "gateway_audit"

    id: uuid.UUID = Field(primary_key=True)
    organization_id: uuid.UUID | None = Field(default=None, index=True)
    actor: str = Field(max_length=80)
    action: str = Field(max_length=40)
    target: str | None = Field(default=None, max_length=80)
    at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    address: str | None = Field(default=None, max_length=64)
    result: str = Field(max_length=40)
