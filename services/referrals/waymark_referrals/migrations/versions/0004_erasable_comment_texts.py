"""A comment's sealed text can be erased (its columns emptied) while the comment stays.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SEALED = (("key_id", sa.String(8)), ("wrapped_key", sa.LargeBinary()), ("ciphertext", sa.LargeBinary()))


def _sealed_nullable(nullable: bool) -> None:
    with op.batch_alter_table("referrals_comments") as table:
        for name, type_ in SEALED:
            table.alter_column(name, existing_type=type_, nullable=nullable)


def upgrade() -> None:
    _sealed_nullable(True)


def downgrade() -> None:
    op.execute("DELETE FROM referrals_comments WHERE ciphertext IS NULL")
    _sealed_nullable(False)
