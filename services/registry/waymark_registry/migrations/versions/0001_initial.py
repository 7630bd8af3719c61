"""Organisations, services with their locations and search facets; outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from waymark_kernel.migrations import create_messaging_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    create_messaging_tables()

    op.create_table(
        "registry_organizations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("website", sa.String(500), nullable=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("phone", sa.String(40), nullable=True),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("identifiers", sa.JSON(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        *_timestamps(),
    )
    op.create_index("ix_registry_organizations_name_id", "registry_organizations", ["name", "id"])
    op.create_index("ix_registry_organizations_country", "registry_organizations", ["country"])
    op.create_index(
        "uq_registry_organizations_country_name", "registry_organizations",
        ["country", sa.text("lower(name)")], unique=True,
    )
    # One National Society per country, as the Movement recognises them.
    op.create_index(
        "uq_registry_organizations_national_society", "registry_organizations", ["country"],
        unique=True,
        postgresql_where=sa.text("type = 'national_society'"),
        sqlite_where=sa.text("type = 'national_society'"),
    )

    op.create_table(
        "registry_services",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "organization_id", sa.Uuid(),
            sa.ForeignKey("registry_organizations.id", ondelete="RESTRICT"), nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("interpretation_available", sa.Boolean(), nullable=False),
        sa.Column("populations", sa.JSON(), nullable=False),
        sa.Column("migration_stages", sa.JSON(), nullable=False),
        sa.Column("free_of_charge", sa.Boolean(), nullable=False),
        sa.Column("accepts_referrals", sa.Boolean(), nullable=False),
        sa.Column("capacity", sa.String(20), nullable=True),
        sa.Column("response_time_hours", sa.Integer(), nullable=True),
        sa.Column("eligibility_description", sa.Text(), nullable=True),
        sa.Column("phones", sa.JSON(), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("url", sa.String(500), nullable=True),
        sa.Column("schedules", sa.JSON(), nullable=False),
        *_timestamps(),
    )
    op.create_index("ix_registry_services_name_id", "registry_services", ["name", "id"])
    op.create_index("ix_registry_services_organization", "registry_services", ["organization_id"])

    op.create_table(
        "registry_service_locations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "service_id", sa.Uuid(),
            sa.ForeignKey("registry_services.id", ondelete="CASCADE"), nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("address", sa.String(300), nullable=True),
        sa.Column("city", sa.String(100), nullable=True),
        sa.Column("admin_area", sa.String(100), nullable=True),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("public_latitude", sa.Float(), nullable=True),
        sa.Column("public_longitude", sa.Float(), nullable=True),
        sa.Column("confidential", sa.Boolean(), nullable=False),
    )
    op.create_index(
        "ix_registry_service_locations_service", "registry_service_locations",
        ["service_id", "position"],
    )
    op.create_index(
        "ix_registry_service_locations_country", "registry_service_locations",
        ["country", "service_id"],
    )

    op.create_table(
        "registry_service_facets",
        sa.Column(
            "service_id", sa.Uuid(),
            sa.ForeignKey("registry_services.id", ondelete="CASCADE"), primary_key=True,
        ),
        sa.Column("facet", sa.String(20), primary_key=True),
        sa.Column("value", sa.String(64), primary_key=True),
    )
    op.create_index(
        "ix_registry_service_facets_value", "registry_service_facets",
        ["facet", "value", "service_id"],
    )


def downgrade() -> None:
    for table in (
        "registry_service_facets", "registry_service_locations", "registry_services",
        "registry_organizations", "processed_events", "outbox",
    ):
        op.drop_table(table)
