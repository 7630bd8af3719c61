"""A test's own database, a copy of a migrated one: on PostgreSQL a copy is handed to the next
test only once it holds exactly what the template holds."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from waymark_kernel.testing import (
    POSTGRES_ADMIN_DSN,
    DatabaseCopies,
    create_database,
    drop_database,
)

SCHEMA = """
CREATE TABLE configs (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    shouted text GENERATED ALWAYS AS (upper(name)) STORED
);
INSERT INTO configs (name) VALUES ('simple');
CREATE TABLE notes (id uuid PRIMARY KEY, config_id integer NOT NULL REFERENCES configs (id));
"""
A_NOTE = "INSERT INTO notes VALUES (gen_random_uuid(), 1)"


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _execute(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(_dsn(url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _contents(url: str) -> dict[str, Any]:
    connection = await asyncpg.connect(_dsn(url))
    try:
        return {
            "configs": [tuple(row) for row in await connection.fetch(
                "SELECT id, name, shouted FROM configs ORDER BY id"
            )],
            "notes": await connection.fetchval("SELECT count(*) FROM notes"),
            "next id": await connection.fetchval(
                "INSERT INTO configs (name) VALUES ('probe') RETURNING id"
            ),
        }
    finally:
        await connection.close()


async def _exists(url: str) -> bool:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        return bool(await connection.fetchval(
            "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", url.rsplit("/", 1)[1]
        ))
    finally:
        await connection.close()


@pytest.fixture
async def copies() -> AsyncIterator[DatabaseCopies]:
    template = await create_database("kernel_template")
    await _execute(template, SCHEMA)
    copies = DatabaseCopies(template, "kernel_copy")
    try:
        yield copies
    finally:
        await copies.drop_spares()
        await drop_database(template)


@pytest.mark.integration  # the copies are PostgreSQL databases
async def test_postgresql_a_copy_handed_on_holds_the_templates_rows_again(
    copies: DatabaseCopies, tmp_path: Path
) -> None:
    async with copies.copy(tmp_path) as first:
        as_made = await _contents(first)
        await _execute(
            first, "UPDATE configs SET name = 'changed'",
            "INSERT INTO configs (name) VALUES ('english'), ('french')", A_NOTE,
        )
    async with copies.copy(tmp_path) as second:
        assert second == first
        assert await _contents(second) == as_made
    assert as_made == {"configs": [(1, "simple", "SIMPLE")], "notes": 0, "next id": 2}


@pytest.mark.integration  # the copies are PostgreSQL databases
async def test_postgresql_a_copy_whose_user_raised_is_handed_on_clean(
    copies: DatabaseCopies, tmp_path: Path
) -> None:
    used: list[str] = []

    async def failing_test() -> None:
        async with copies.copy(tmp_path) as url:
            used.append(url)
            await _execute(url, A_NOTE)
            raise RuntimeError("the test failed")

    with pytest.raises(RuntimeError, match="the test failed"):
        await failing_test()
    async with copies.copy(tmp_path) as second:
        assert second == used[0]
        assert (await _contents(second))["notes"] == 0


@pytest.mark.integration  # the copies are PostgreSQL databases
async def test_postgresql_a_connection_a_test_left_open_does_not_keep_its_copy_from_the_next(
    copies: DatabaseCopies, tmp_path: Path
) -> None:
    async with copies.copy(tmp_path) as first:
        left_open = await asyncpg.connect(_dsn(first))
        transaction = left_open.transaction()
        await transaction.start()
        await left_open.execute(A_NOTE)
    async with copies.copy(tmp_path) as second:
        assert second == first
        assert (await _contents(second))["notes"] == 0
    with pytest.raises((asyncpg.PostgresConnectionError, asyncpg.InterfaceError, ConnectionError)):
        await left_open.fetchval("SELECT 1")


@pytest.mark.integration  # the copies are PostgreSQL databases
async def test_postgresql_a_copy_whose_schema_a_test_changed_is_dropped_not_handed_on(
    copies: DatabaseCopies, tmp_path: Path
) -> None:
    async with copies.copy(tmp_path) as first:
        await _execute(first, "ALTER TABLE notes ADD COLUMN body text")
    assert not await _exists(first)
    async with copies.copy(tmp_path) as second:
        assert second != first
        assert (await _contents(second))["configs"] == [(1, "simple", "SIMPLE")]


async def test_sqlite_each_copy_is_a_file_of_its_own(tmp_path: Path) -> None:
    template = tmp_path / "template.db"
    template.write_bytes(b"SQLite format 3\x00 as the migrations left it")
    copies = DatabaseCopies(f"sqlite+aiosqlite:///{template}", "kernel_copy")
    async with copies.copy(tmp_path) as first, copies.copy(tmp_path) as second:
        files = [Path(make_url(url).database or "") for url in (first, second)]
        assert files[0] != files[1]
        assert [file.read_bytes() for file in files] == [template.read_bytes()] * 2
        assert all(file.stat().st_mode & 0o077 == 0 for file in files)
