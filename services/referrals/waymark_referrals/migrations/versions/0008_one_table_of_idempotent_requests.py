"""One table for every request sent with an Idempotency-Key: creations, onward legs and
transitions keep their key, the fingerprint of what they asked and their first answer (sealed)
in `referrals_idempotent_requests`, in place of the creations' keys pointing at a referral
(`referrals_idempotency_keys`) beside the transitions' keys with their answers
(`referrals_transition_keys`).

The stored keys are carried over, not dropped: a client retrying within the 24 hours across
the upgrade must still get its first answer, not a second referral or a second transition.
Transitions' keys come with their sealed answers as they are (bound to the same record, so no
key is needed here). Creations' keys had no stored answer: they come over with an empty one, as
the answers of erased free text have, and their replay shows the referral as it is now, which is
what a creation's replay answered before. Where one organisation sent a creation and a
transition with the same key (the two tables allowed it), the transition's row is kept: the two
asked different requests, so a retry of the creation is told the key is used (422) rather than
answered with the transition.

The downgrade writes every row back into both former tables: each looked up only requests of
its own shape, whose fingerprints no row of the other kind matches; rows without an answer go
to the creations' table only.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

KEY_COLUMNS = ("organization_id", "key", "request_hash", "referral_id", "created_at")
SEALED = ("key_id", "wrapped_key", "ciphertext")
REQUESTS = "referrals_idempotent_requests"
CREATIONS = "referrals_idempotency_keys"
TRANSITIONS = "referrals_transition_keys"


def _key_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("organization_id", sa.Uuid(), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _sealed_columns(*, nullable: bool) -> list[sa.Column[Any]]:
    return [
        sa.Column("key_id", sa.String(8), nullable=nullable),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=nullable),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=nullable),
    ]


def _table(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, *(sa.column(column) for column in columns))


def _copy(source: sa.TableClause, target: sa.TableClause, columns: tuple[str, ...],
          where: sa.ColumnElement[bool] | None = None) -> None:
    query = sa.select(*(source.c[column] for column in columns))
    if where is not None:
        query = query.where(where)
    op.execute(target.insert().from_select(list(columns), query))


def upgrade() -> None:
    op.create_table(REQUESTS, *_key_columns(), *_sealed_columns(nullable=True))
    op.create_index(f"ix_{REQUESTS}_created_at", REQUESTS, ["created_at"])
    requests = _table(REQUESTS, *KEY_COLUMNS, *SEALED)
    transitions = _table(TRANSITIONS, *KEY_COLUMNS, *SEALED)
    creations = _table(CREATIONS, *KEY_COLUMNS)
    _copy(transitions, requests, KEY_COLUMNS + SEALED)
    _copy(creations, requests, KEY_COLUMNS, where=~sa.exists().where(
        requests.c.organization_id == creations.c.organization_id,
        requests.c.key == creations.c.key,
    ))
    op.drop_table(TRANSITIONS)
    op.drop_table(CREATIONS)


def downgrade() -> None:
    op.create_table(CREATIONS, *_key_columns())
    op.create_index(f"ix_{CREATIONS}_created_at", CREATIONS, ["created_at"])
    op.create_table(TRANSITIONS, *_key_columns(), *_sealed_columns(nullable=False))
    op.create_index(f"ix_{TRANSITIONS}_created_at", TRANSITIONS, ["created_at"])
    requests = _table(REQUESTS, *KEY_COLUMNS, *SEALED)
    _copy(requests, _table(CREATIONS, *KEY_COLUMNS), KEY_COLUMNS)
    _copy(requests, _table(TRANSITIONS, *KEY_COLUMNS, *SEALED), KEY_COLUMNS + SEALED,
          where=requests.c.ciphertext.is_not(None))
    op.drop_table(REQUESTS)
