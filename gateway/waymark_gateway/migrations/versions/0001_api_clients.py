"""API clients of the organisations (the bootstrap network-admin client is not stored).

Revision ID: 0001
Revises:
Create Date: 2025-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_api_clients",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("secret_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_gateway_api_clients_organization_id", "gateway_api_clients", ["organization_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_gateway_api_clients_organization_id", "gateway_api_clients")
    op.drop_table("gateway_api_clients")
