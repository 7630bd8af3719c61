"""Deleting a person's account: her tombstone's pseudonym, and erasures still to be done.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gateway_people") as table:
        table.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("pseudonym", sa.String(40), nullable=True))
    op.create_table(
        "gateway_pending_erasures",
        sa.Column("person_id", sa.Uuid(), primary_key=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gateway_pending_erasures")
    with op.batch_alter_table("gateway_people") as table:
        table.drop_column("pseudonym")
        table.drop_column("deleted_at")
