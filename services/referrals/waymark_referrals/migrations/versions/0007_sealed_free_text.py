"""The free text of referrals is sealed like the person's data (caseworkers write about the
person in it): a referral's reason, a transition's note, their status reasons and outcomes
where these are not codes, and the first answers kept for transitions' Idempotency-Keys.
Rows written before are sealed here with the service's key (WAYMARK_ENCRYPTION_KEY), and the
free text leaves the clear columns (codes stay: they say nothing of the person).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from alembic import op

from waymark_kernel.migrations import migration_settings
from waymark_referrals.crypto import EnvelopeCipher, Sealed, cipher_from_settings
from waymark_referrals.referrals.models import idempotency_record, texts_record
from waymark_referrals.referrals.schemas import split_code
from waymark_referrals.referrals.states import Status

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SEALED = (("key_id", sa.String(8)), ("wrapped_key", sa.LargeBinary()), ("ciphertext", sa.LargeBinary()))
Row = dict[str, Any]


def _referral_document(row: Row) -> tuple[Row, Row]:
    """(clear values, sealed document) of a referral: its status says which values are codes."""
    status = Status(row["status"])
    status_reason, free_reason = split_code(status, "reason", row["status_reason"])
    outcome, free_outcome = split_code(status, "outcome", row["outcome"])
    return {"status_reason": status_reason, "outcome": outcome}, {
        "reason": row["reason"], "status_reason": free_reason, "outcome": free_outcome,
    }


def _transition_document(row: Row) -> tuple[Row, Row]:
    target = Status(row["to_status"])
    reason, free_reason = split_code(target, "reason", row["reason"])
    outcome, free_outcome = split_code(target, "outcome", row["outcome"])
    return {"reason": reason, "outcome": outcome}, {
        "reason": free_reason, "note": row["note"], "outcome": free_outcome,
    }


def _response_document(row: Row) -> tuple[Row, Row]:
    return {}, row["response"]


@dataclass
class Table:
    """One table: its key, the columns read, the clear columns that go (`required`: NOT NULL
    before), how a row splits into clear values and a sealed document, and how its record (the
    associated data of the seal) is named."""

    name: str
    keys: tuple[str, ...]
    read: tuple[str, ...]
    dropped: tuple[str, ...]
    split: Callable[[Row], tuple[Row, Row]]
    record: Callable[..., str]
    required: str | None = None
    erasable: bool = True  # its sealed columns are empty where there is no text

    @cached_property
    def table(self) -> sa.TableClause:
        key_types = {"key": sa.String(), "status": sa.String(), "to_status": sa.String()}
        return sa.table(
            self.name,
            *(sa.column(name, key_types.get(name, sa.Uuid())) for name in self.keys),
            *(
                sa.column(name, sa.JSON() if name == "response" else sa.Text())
                for name in self.read if name not in self.keys
            ),
            *(sa.column(name, type_) for name, type_ in SEALED),
        )


TABLES = (
    Table(
        "referrals_referrals", ("id",), ("status", "reason", "status_reason", "outcome"),
        ("reason",), _referral_document, texts_record, required="reason",
    ),
    Table(
        "referrals_referral_transitions", ("id",), ("to_status", "reason", "note", "outcome"),
        ("note",), _transition_document, str,
    ),
    Table(
        "referrals_transition_keys", ("organization_id", "key"), ("response",), ("response",),
        _response_document, idempotency_record, required="response", erasable=False,
    ),
)


def _cipher() -> EnvelopeCipher | None:
    """The service's cipher where there are rows to convert (checked before anything changes:
    SQLite runs this migration's DDL outside a transaction); an empty database needs no key."""
    connection = op.get_bind()
    if not any(
        connection.execute(sa.select(sa.literal(1)).select_from(sa.table(name)).limit(1)).first()
        for name in ("referrals_referrals", "referrals_transition_keys")
    ):
        return None
    try:
        return cipher_from_settings(migration_settings())
    except RuntimeError as exc:
        raise RuntimeError(
            f"Migration {revision} seals the free text of existing referrals and needs the "
            f"referrals service's key: {exc}"
        ) from exc


def _where(table: Table, row: sa.RowMapping) -> sa.ColumnElement[bool]:
    clause = table.table
    return sa.and_(*(clause.c[key] == row[key] for key in table.keys))


def _record(table: Table, row: sa.RowMapping) -> str:
    return table.record(*(row[key] for key in table.keys))


def _seal_rows(table: Table, cipher: EnvelopeCipher) -> None:
    connection, clause = op.get_bind(), table.table
    columns = [clause.c[name] for name in dict.fromkeys((*table.keys, *table.read))]
    for row in connection.execute(sa.select(*columns)).mappings().all():
        clear, document = table.split(dict(row))
        values = {**clear}
        if any(value is not None for value in document.values()):
            sealed = cipher.seal(document, record=_record(table, row))
            values |= {
                "key_id": sealed.key_id, "wrapped_key": sealed.wrapped_key,
                "ciphertext": sealed.ciphertext,
            }
        if values:
            connection.execute(sa.update(clause).where(_where(table, row)).values(values))


def _open_rows(table: Table, cipher: EnvelopeCipher) -> None:
    connection, clause = op.get_bind(), table.table
    columns = [clause.c[name] for name in (*table.keys, *(name for name, _ in SEALED))]
    query = sa.select(*columns).where(clause.c.ciphertext.is_not(None))
    for row in connection.execute(query).mappings().all():
        document = cipher.open(
            Sealed(row["key_id"], row["wrapped_key"], row["ciphertext"]),
            record=_record(table, row),
        )
        if table.name == "referrals_transition_keys":
            values = {"response": document}
        else:  # a code stayed in its column, and the sealed document has null there
            current = connection.execute(
                sa.select(*(clause.c[name] for name in document)).where(_where(table, row))
            ).mappings().one()
            values = {name: current[name] or document[name] for name in document}
        connection.execute(sa.update(clause).where(_where(table, row)).values(values))


def upgrade() -> None:
    cipher = _cipher()
    for table in TABLES:
        with op.batch_alter_table(table.name) as alter:
            for name, type_ in SEALED:
                alter.add_column(sa.Column(name, type_, nullable=True))
    if cipher is not None:  # else there are no rows to seal
        for table in TABLES:
            _seal_rows(table, cipher)
    for table in TABLES:
        with op.batch_alter_table(table.name) as alter:
            for name in table.dropped:
                alter.drop_column(name)
            if not table.erasable:
                for name, type_ in SEALED:
                    alter.alter_column(name, existing_type=type_, nullable=False)


def downgrade() -> None:
    cipher = _cipher()
    for table in TABLES:
        with op.batch_alter_table(table.name) as alter:
            for name in table.dropped:
                type_ = sa.JSON() if name == "response" else sa.Text()
                alter.add_column(sa.Column(name, type_, nullable=True))
    if cipher is not None:  # else there are no rows to open
        for table in TABLES:
            _open_rows(table, cipher)
    op.execute("UPDATE referrals_referrals SET reason = '' WHERE reason IS NULL")  # erased
    for table in TABLES:
        with op.batch_alter_table(table.name) as alter:
            for name, _ in SEALED:
                alter.drop_column(name)
            if table.required:
                alter.alter_column(table.required, nullable=False)
