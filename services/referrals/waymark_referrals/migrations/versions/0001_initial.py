"""Cases, referrals, their history and shared snapshots, idempotency keys, the directory.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from waymark_kernel.migrations import create_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def timestamp(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def sealed_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("key_id", sa.String(8), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
    ]


def upgrade() -> None:
    create_messaging_tables()
    op.create_table(
        "referrals_directory_organizations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        timestamp("changed_at"),
    )
    op.create_table(
        "referrals_directory_services",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(50), nullable=False),
        sa.Column("accepts_referrals", sa.Boolean(), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("response_time_hours", sa.Integer(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        timestamp("changed_at"),
    )
    op.create_index(
        "ix_referrals_directory_services_organization_id", "referrals_directory_services",
        ["organization_id"],
    )
    op.create_table(
        "referrals_cases",
        *sealed_columns(),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("legal_basis", sa.String(40), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        timestamp("created_at"),
        timestamp("updated_at"),
        sa.UniqueConstraint("organization_id", "reference", name="uq_referrals_cases_reference"),
    )
    op.create_index(
        "ix_referrals_cases_listing", "referrals_cases", ["organization_id", "created_at", "id"]
    )
    op.create_table(
        "referrals_case_sequences",
        sa.Column("organization_id", sa.Uuid(), primary_key=True),
        sa.Column("country", sa.String(2), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("last_value", sa.Integer(), nullable=False),
    )
    op.create_table(
        "referrals_referrals",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("referrals_cases.id"), nullable=False),
        sa.Column("sender_org_id", sa.Uuid(), nullable=False),
        sa.Column("receiver_org_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=True),
        sa.Column("from_country", sa.String(2), nullable=False),
        sa.Column("to_country", sa.String(2), nullable=False),
        sa.Column("migration_stage", sa.String(20), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("urgency", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("shared_fields", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column(
            "parent_referral_id", sa.Uuid(), sa.ForeignKey("referrals_referrals.id"), nullable=True
        ),
        sa.Column("response_hours", sa.Integer(), nullable=False),
        timestamp("requested_at", nullable=True),
        timestamp("respond_by", nullable=True),
        sa.Column("overdue_announced", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        timestamp("created_at"),
        timestamp("updated_at"),
    )
    op.create_index("ix_referrals_referrals_case_id", "referrals_referrals", ["case_id"])
    op.create_index(
        "ix_referrals_referrals_sent", "referrals_referrals", ["sender_org_id", "created_at", "id"]
    )
    op.create_index(
        "ix_referrals_referrals_received", "referrals_referrals",
        ["receiver_org_id", "created_at", "id"],
    )
    op.create_index(
        "ix_referrals_referrals_deadline", "referrals_referrals", ["status", "respond_by"]
    )
    op.create_table(
        "referrals_shared_persons",
        *sealed_columns(),
        sa.Column(
            "referral_id", sa.Uuid(), sa.ForeignKey("referrals_referrals.id"), primary_key=True
        ),
        timestamp("created_at"),
    )
    op.create_table(
        "referrals_referral_transitions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "referral_id", sa.Uuid(), sa.ForeignKey("referrals_referrals.id"), nullable=False
        ),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("actor_subject", sa.String(200), nullable=False),
        sa.Column("actor_org_id", sa.Uuid(), nullable=True),
        timestamp("occurred_at"),
    )
    op.create_index(
        "ix_referrals_transitions_history", "referrals_referral_transitions",
        ["referral_id", "occurred_at", "id"],
    )
    op.create_table(
        "referrals_idempotency_keys",
        sa.Column("organization_id", sa.Uuid(), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        timestamp("created_at"),
    )
    op.create_index(
        "ix_referrals_idempotency_keys_created_at", "referrals_idempotency_keys", ["created_at"]
    )


def downgrade() -> None:
    for table in (
        "referrals_idempotency_keys", "referrals_referral_transitions", "referrals_shared_persons",
        "referrals_referrals", "referrals_case_sequences", "referrals_cases",
        "referrals_directory_services", "referrals_directory_organizations", "processed_events",
        "outbox",
    ):
        op.drop_table(table)
