"""The HSDS tables a publisher's services carry that matter to a migrant, kept with each
service: required documents, cost options, service areas, contacts, and the terms of other
taxonomies it is classified in; the accessibility of each location; and the HSDS API a synchronised service comes from.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SERVICES, LOCATIONS = "registry_services", "registry_service_locations"
KEPT = ("required_documents", "cost_options", "service_areas", "contacts", "external_terms")


def upgrade() -> None:
    for column in KEPT:
        op.add_column(SERVICES, sa.Column(column, sa.JSON(), nullable=False, server_default="[]"))
    op.add_column(LOCATIONS, sa.Column("accessibility", sa.JSON(), nullable=False,
                                       server_default="[]"))
    op.add_column(SERVICES, sa.Column("source", sa.String(500), nullable=True))
    op.create_index("ix_registry_services_source", SERVICES, ["source"])


def downgrade() -> None:
    op.drop_index("ix_registry_services_source", SERVICES)
    op.drop_column(SERVICES, "source")
    op.drop_column(LOCATIONS, "accessibility")
    for column in KEPT:
        op.drop_column(SERVICES, column)
