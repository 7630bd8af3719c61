"""Webhook subscriptions, deliveries and their attempts; outbox and processed events.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from waymark_kernel.migrations import create_messaging_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_messaging_tables()
    op.create_table(
        "notifications_subscriptions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(50), nullable=True),
        sa.Column("sealed_secret", sa.Text(), nullable=False),
        sa.Column("sealed_previous_secret", sa.Text(), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_notifications_subscriptions_organization_id", "notifications_subscriptions",
        ["organization_id"],
    )
    op.create_table(
        "notifications_deliveries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "subscription_id", sa.Uuid(),
            sa.ForeignKey("notifications_subscriptions.id", ondelete="CASCADE"), nullable=False,
        ),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Boolean(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_notifications_deliveries_subscription_id", "notifications_deliveries",
        ["subscription_id"],
    )
    op.create_index(
        "ix_notifications_deliveries_due", "notifications_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_table(
        "notifications_delivery_attempts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "delivery_id", sa.Uuid(),
            sa.ForeignKey("notifications_deliveries.id", ondelete="CASCADE"), nullable=False,
        ),
        sa.Column(
            "subscription_id", sa.Uuid(),
            sa.ForeignKey("notifications_subscriptions.id", ondelete="CASCADE"), nullable=False,
        ),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(200), nullable=True),
        sa.Column("response_excerpt", sa.String(200), nullable=True),
    )
    op.create_index(
        "ix_notifications_delivery_attempts_delivery_id", "notifications_delivery_attempts",
        ["delivery_id"],
    )
    op.create_index(
        "ix_notifications_delivery_attempts_log", "notifications_delivery_attempts",
        ["subscription_id", "attempted_at", "id"],
    )


def downgrade() -> None:
    op.drop_table("notifications_delivery_attempts")
    op.drop_table("notifications_deliveries")
    op.drop_table("notifications_subscriptions")
    op.drop_table("processed_events")
    op.drop_table("outbox")
