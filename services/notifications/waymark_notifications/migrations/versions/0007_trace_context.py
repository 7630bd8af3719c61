"""The W3C trace context kept with each outbox row and each delivery, so that a referral's
trace runs on through the broker to every webhook attempt.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from waymark_kernel.messaging.outbox import TRACEPARENT_LENGTH
from waymark_kernel.migrations import (
    add_outbox_trace_context,
    drop_outbox_trace_context,
)

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_trace_context()
    with op.batch_alter_table("notifications_deliveries") as deliveries:
        deliveries.add_column(
            sa.Column("traceparent", sa.String(TRACEPARENT_LENGTH), nullable=True)
        )
        deliveries.add_column(sa.Column("tracestate", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications_deliveries") as deliveries:
        deliveries.drop_column("tracestate")
        deliveries.drop_column("traceparent")
    drop_outbox_trace_context()
