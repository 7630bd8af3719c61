"""The outbox's unpublished events indexed in the order the relay takes them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from waymark_kernel.migrations import (
    index_unpublished_outbox_by_publication,
    index_unpublished_outbox_in_order,
)

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    index_unpublished_outbox_in_order()


def downgrade() -> None:
    index_unpublished_outbox_by_publication()
