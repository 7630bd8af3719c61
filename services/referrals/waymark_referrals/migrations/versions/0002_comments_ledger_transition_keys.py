"""Comments, the disclosure ledger and the Idempotency-Keys of transitions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def timestamp(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "referrals_transition_keys",
        sa.Column("organization_id", sa.Uuid(), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        timestamp("created_at"),
    )
    op.create_index(
        "ix_referrals_transition_keys_created_at", "referrals_transition_keys", ["created_at"]
    )
    op.create_table(
        "referrals_comments",
        sa.Column("key_id", sa.String(8), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "referral_id", sa.Uuid(), sa.ForeignKey("referrals_referrals.id"), nullable=False
        ),
        sa.Column("author_org_id", sa.Uuid(), nullable=False),
        sa.Column("author_subject", sa.String(200), nullable=False),
        timestamp("created_at"),
    )
    op.create_index(
        "ix_referrals_comments_thread", "referrals_comments", ["referral_id", "created_at", "id"]
    )
    op.create_table(
        "referrals_disclosures",
        sa.Column("sequence", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("owner_org_id", sa.Uuid(), nullable=False),
        sa.Column("reader_org_id", sa.Uuid(), nullable=False),
        sa.Column("reader_subject", sa.String(200), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("legal_basis", sa.String(40), nullable=True),
        timestamp("occurred_at"),
        sa.Column("previous_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    op.create_index(
        "ix_referrals_disclosures_case", "referrals_disclosures", ["case_id", "occurred_at", "id"]
    )


def downgrade() -> None:
    for table in ("referrals_disclosures", "referrals_comments", "referrals_transition_keys"):
        op.drop_table(table)
