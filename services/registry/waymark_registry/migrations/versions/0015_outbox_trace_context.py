"""The W3C trace context kept with each outbox row, so that the change's trace runs on through
the broker to the consumers.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from waymark_kernel.migrations import add_outbox_trace_context, drop_outbox_trace_context

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_trace_context()


def downgrade() -> None:
    drop_outbox_trace_context()
