"""The disclosure ledger becomes one hash chain per case: appends to different cases no longer
wait for each other. The existing chain is verified, then each case's entries are re-chained.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import uuid
from collections.abc import Callable, Hashable

import sqlalchemy as sa
from alembic import op

from waymark_kernel.db import table_of
from waymark_referrals.disclosures.models import Disclosure
from waymark_referrals.disclosures.service import GENESIS, entry_hash

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLE = "referrals_disclosures"
ChainOf = Callable[[Disclosure], Hashable]  # the chain an entry belongs to
# The columns the ledger has at this revision; the model has gained others since.
COLUMNS = (
    "case_id", "sequence", "id", "owner_org_id", "reader_org_id", "reader_subject", "referral_id",
    "fields", "legal_basis", "occurred_at", "previous_hash", "entry_hash",
)


def _entries() -> list[Disclosure]:
    query = sa.select(*(table_of(Disclosure).c[column] for column in COLUMNS))
    return [Disclosure(**row) for row in op.get_bind().execute(query).mappings()]


def _verified(entries: list[Disclosure], chain_of: ChainOf) -> None:
    """Refuses to re-chain a ledger that does not verify: that would hide the tampering."""
    previous: dict[Hashable, str] = {}
    for entry in sorted(entries, key=lambda entry: (chain_of(entry), entry.sequence)):
        if entry.previous_hash != previous.get(chain_of(entry), GENESIS) or (
            entry_hash(entry) != entry.entry_hash
        ):
            raise RuntimeError(
                f"the disclosure ledger does not verify at entry {entry.id}; investigate with "
                "`waymark referrals verify-ledger` on the previous version before upgrading"
            )
        previous[chain_of(entry)] = entry.entry_hash


def _rewrite(entries: list[Disclosure], chain_of: ChainOf, primary_key: list[str]) -> None:
    """Recreates the table with `primary_key` and appends the entries, numbered and linked
    within each chain in the order they were written."""
    op.drop_table(TABLE)
    op.create_table(
        TABLE,
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("owner_org_id", sa.Uuid(), nullable=False),
        sa.Column("reader_org_id", sa.Uuid(), nullable=False),
        sa.Column("reader_subject", sa.String(200), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("legal_basis", sa.String(40), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("previous_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint(*primary_key),
    )
    op.create_index("ix_referrals_disclosures_case", TABLE, ["case_id", "occurred_at", "id"])
    heads: dict[Hashable, tuple[int, str]] = {}
    rows = []
    for entry in sorted(entries, key=lambda entry: (entry.occurred_at, entry.sequence)):
        sequence, previous = heads.get(chain_of(entry), (0, GENESIS))
        entry.sequence, entry.previous_hash = sequence + 1, previous
        entry.entry_hash = entry_hash(entry)
        heads[chain_of(entry)] = (entry.sequence, entry.entry_hash)
        rows.append(entry.model_dump(include=set(COLUMNS)))
    ledger = sa.table(TABLE, *(
        sa.column(column, table_of(Disclosure).c[column].type) for column in COLUMNS
    ))
    op.bulk_insert(ledger, rows)


def one_chain(_entry: Disclosure) -> str:
    return "ledger"


def chain_per_case(entry: Disclosure) -> uuid.UUID:
    return entry.case_id


def upgrade() -> None:
    entries = _entries()
    _verified(entries, one_chain)
    _rewrite(entries, chain_per_case, ["case_id", "sequence"])


def downgrade() -> None:
    entries = _entries()
    _verified(entries, chain_per_case)
    _rewrite(entries, one_chain, ["sequence"])
