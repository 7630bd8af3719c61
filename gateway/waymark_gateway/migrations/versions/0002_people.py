"""People's accounts, invitations, recovery codes, sessions (when not in Redis) and the audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _timestamp(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "gateway_people",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("email_fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("email_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("name_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("totp_secret_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("totp_pending_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("second_factor_waived", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("external_provider", sa.String(64), nullable=True),
        sa.Column("external_subject", sa.String(255), nullable=True),
        _timestamp("created_at"),
        _timestamp("last_sign_in_at", nullable=True),
        _timestamp("deactivated_at", nullable=True),
        sa.UniqueConstraint("external_provider", "external_subject"),
    )
    op.create_table(
        "gateway_invitations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("email_fingerprint", sa.String(64), nullable=False, index=True),
        sa.Column("email_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("second_factor_waived", sa.Boolean(), nullable=False),
        sa.Column("invited_by", sa.String(64), nullable=False),
        _timestamp("created_at"),
        _timestamp("expires_at"),
        _timestamp("accepted_at", nullable=True),
    )
    op.create_table(
        "gateway_recovery_codes",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.Uuid(), nullable=False, index=True),
        _timestamp("used_at", nullable=True),
    )
    op.create_table(
        "gateway_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("data", sa.JSON(), nullable=False),
        _timestamp("last_seen_at"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_table(
        "gateway_audit",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True, index=True),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(80), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("result", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "gateway_audit", "gateway_sessions", "gateway_recovery_codes", "gateway_invitations",
        "gateway_people",
    ):
        op.drop_table(table)
