import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime
from sqlmodel import Field, SQLModel


class ApiClient(SQLModel, table=True):
    """An organisation's API client; only a hash of its secret is kept."""

    __tablename__ = "gateway_api_clients"

    client_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    organization_id: uuid.UUID = Field(index=True)
    roles: list[str] = Field(sa_type=JSON)
    secret_hash: str = Field(max_length=255)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
