import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Text
from sqlmodel import Field, SQLModel


class Service(SQLModel, table=True):
    __tablename__ = "registry_services"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organization_id: uuid.UUID = Field(foreign_key="registry_organizations.id", ondelete="RESTRICT")
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=30)
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    interpretation_available: bool = False
    populations: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    migration_stages: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    free_of_charge: bool = True
    accepts_referrals: bool = True
    capacity: str | None = Field(default=None, max_length=20)
    response_time_hours: int | None = None
    eligibility_description: str | None = Field(
        default=None, sa_column=Column(Text, nullable=True)
    )
    phones: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    email: str | None = Field(default=None, max_length=254)
    url: str | None = Field(default=None, max_length=500)
    schedules: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    original_language: str | None = Field(default=None, max_length=3)
    # HSDS tables kept as imported from a publisher (migration 0013).
    required_documents: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    cost_options: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    service_areas: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    contacts: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    external_terms: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    # The HSDS API the service is synchronised from (`waymark registry sync`), if any.
    source: str | None = Field(default=None, max_length=500, index=True)
    last_verified_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ServiceTranslation(SQLModel, table=True):
    """The name or description of a service in another language than the original."""

    __tablename__ = "registry_service_translations"

    service_id: uuid.UUID = Field(
        foreign_key="registry_services.id", ondelete="CASCADE", primary_key=True
    )
    field: str = Field(max_length=20, primary_key=True)
    language: str = Field(max_length=3, primary_key=True)
    text: str = Field(sa_column=Column(Text, nullable=False))


class ServiceLocation(SQLModel, table=True):
    """Where a service is given. `public_*` are the coordinates used outside the owning
    organisation: exact for an open location, rounded to 0.1° (city level) for a confidential
    one."""

    __tablename__ = "registry_service_locations"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    service_id: uuid.UUID = Field(foreign_key="registry_services.id", ondelete="CASCADE")
    position: int
    name: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=300)
    city: str | None = Field(default=None, max_length=100)
    admin_area: str | None = Field(default=None, max_length=100)
    country: str = Field(max_length=2)
    latitude: float | None = None
    longitude: float | None = None
    public_latitude: float | None = None
    public_longitude: float | None = None
    confidential: bool = False
    # HSDS accessibility of the place, as imported from a publisher (migration 0013).
    accessibility: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )


class ServiceFacet(SQLModel, table=True):
    """Search index of a service's list fields (category, language, population, migration_stage)
    and of its countries, one row per value, rebuilt whenever the service changes."""

    __tablename__ = "registry_service_facets"

    service_id: uuid.UUID = Field(
        foreign_key="registry_services.id", ondelete="CASCADE", primary_key=True
    )
    facet: str = Field(max_length=20, primary_key=True)
    value: str = Field(max_length=64, primary_key=True)
