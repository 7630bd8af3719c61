"""The event feed, the inbox, organisations' contact addresses; replayable deliveries whose
request bodies may be purged.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("notifications_deliveries") as deliveries:
        deliveries.alter_column("body", existing_type=sa.Text(), nullable=True)
        deliveries.add_column(
            sa.Column("retry_base", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "notifications_feed_events",
        sa.Column("position", POSITION, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,  # positions are never reused, even after a purge
    )
    op.create_index(
        "ix_notifications_feed_events_recorded_at", "notifications_feed_events", ["recorded_at"]
    )
    op.create_table(
        "notifications_feed_audience",
        sa.Column(
            "position", POSITION,
            sa.ForeignKey("notifications_feed_events.position", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("organization_id", sa.Uuid(), primary_key=True),
    )
    op.create_index(
        "ix_notifications_feed_audience_organization", "notifications_feed_audience",
        ["organization_id", "position"],
    )
    op.create_table(
        "notifications_inbox",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("summary", sa.String(200), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=True),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(50), nullable=True),
        sa.Column("urgency", sa.String(20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_pending", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("organization_id", "event_id"),
    )
    op.create_index(
        "ix_notifications_inbox_list", "notifications_inbox",
        ["organization_id", "created_at", "id"],
    )
    op.create_index("ix_notifications_inbox_email", "notifications_inbox", ["email_pending"])
    op.create_table(
        "notifications_organizations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notifications_organizations")
    op.drop_table("notifications_inbox")
    op.drop_table("notifications_feed_audience")
    op.drop_table("notifications_feed_events")
    with op.batch_alter_table("notifications_deliveries") as deliveries:
        deliveries.drop_column("retry_base")
        deliveries.alter_column("body", existing_type=sa.Text(), nullable=False)
