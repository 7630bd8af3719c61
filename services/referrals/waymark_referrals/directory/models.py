"""The registry's organisations and services as far as referrals need them, kept from events."""

import uuid
from datetime import datetime

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel
from waymark_kernel.clock import UtcTimestamp


class DirectoryOrganization(SQLModel, table=True):
    __tablename__ = "referrals_directory_organizations"

    id: uuid.UUID = Field(primary_key=True)
    name: str = Field(max_length=500)
    type: str = Field(max_length=50)
    country: str = Field(max_length=2)
    verified: bool
    changed_at: datetime = Field(sa_type=UtcTimestamp)  # time of the event last applied


class DirectoryService(SQLModel, table=True):
    __tablename__ = "referrals_directory_services"

    id: uuid.UUID = Field(primary_key=True)
    organization_id: uuid.UUID = Field(index=True)
    status: str = Field(max_length=50)
    accepts_referrals: bool
    countries: list[str] = Field(sa_type=JSON)
    categories: list[str] = Field(sa_type=JSON)
    response_time_hours: int | None = None
    deleted: bool = False
    changed_at: datetime = Field(sa_type=UtcTimestamp)

    @property
    def takes_referrals(self) -> bool:
        return not self.deleted and self.status == "active" and self.accepts_referrals
