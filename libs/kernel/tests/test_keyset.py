"""Keyset pages walk a list whole, each row once, in either direction, with ties in the sort
column broken by the id, on SQLite as on PostgreSQL."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from waymark_kernel.api import split_page
from waymark_kernel.clock import UtcTimestamp
from waymark_kernel.cursors import BY_TIME
from waymark_kernel.db import Database
from waymark_kernel.keyset import Keyset

NOTES = sa.Table(
    "keyset_notes", sa.MetaData(),
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("created_at", UtcTimestamp, nullable=False),
)
START = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


async def walk(database: Database, order: Keyset, page_size: int) -> list[uuid.UUID]:
    """Every id, page by page, each page asked for by the cursor of the one before."""
    seen: list[uuid.UUID] = []
    cursor: str | None = None
    while True:
        position = BY_TIME.decode(cursor)
        query = order.page(sa.select(NOTES.c.created_at, NOTES.c.id), position, page_size + 1)
        async with database.transaction() as session:
            rows = (await session.execute(query)).all()
        shown, cursor = split_page(rows, page_size, lambda row: (row.created_at, row.id))
        seen += [row.id for row in shown]
        if cursor is None:
            return seen


@pytest.mark.parametrize("descending", [False, True])
async def test_pages_hold_every_row_once_in_order(database: Database, descending: bool) -> None:
    async with database.engine.begin() as connection:
        await connection.run_sync(NOTES.metadata.create_all)
    # Three rows share each moment: the id orders them.
    rows = [
        {"id": uuid.uuid4(), "created_at": START + timedelta(minutes=index // 3)}
        for index in range(11)
    ]
    async with database.transaction() as session:
        await session.execute(NOTES.insert(), rows)
    expected = [
        row["id"] for row in sorted(
            rows, key=lambda row: (row["created_at"], row["id"]), reverse=descending
        )
    ]
    order = Keyset(NOTES.c.created_at, NOTES.c.id, descending=descending)

    for page_size in (1, 2, 3, 4, 11):
        assert await walk(database, order, page_size) == expected, page_size
