"""The dispatcher finds each subscription's first due deliveries by index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_notifications_deliveries_due_per_subscription", "notifications_deliveries",
        ["subscription_id", "status", "next_attempt_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_deliveries_due_per_subscription", "notifications_deliveries")
