"""Emails that could not be sent are tried again with exponential back-off.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications_inbox") as inbox:
        inbox.add_column(
            sa.Column("email_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        inbox.add_column(
            sa.Column("email_next_attempt_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications_inbox") as inbox:
        inbox.drop_column("email_next_attempt_at")
        inbox.drop_column("email_attempts")
