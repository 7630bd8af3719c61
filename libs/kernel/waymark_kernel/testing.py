"""Helpers for the tests of every service: a token issuer of their own and throw-away
databases. Tests need real PostgreSQL and RabbitMQ; they fail if either is down."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from waymark_kernel.auth import ROLES
from waymark_kernel.files import create_private_file
from waymark_kernel.migrations import alembic_config, upgrade
from waymark_kernel.settings import Settings
from waymark_kernel.signing import SigningKey

POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
ISSUER, AUDIENCE = "waymark", "waymark-api"


class TestIssuer:
    """Mints tokens the way the gateway does, with a key only the test knows."""

    __test__ = False

    def __init__(self) -> None:
        self.key = SigningKey.generate()

    def token(
        self, organization_id: uuid.UUID | None, *roles: str, ttl_seconds: int = 600,
        person: tuple[uuid.UUID, str] | None = None,
    ) -> str:
        """A client's token, or with `person` = (id, display name) a person's, signed in with MFA."""
        if unknown := set(roles) - set(ROLES):
            raise ValueError(f"unknown roles {sorted(unknown)}")
        if person is not None:
            return self.key.issue(
                subject=str(person[0]), organization_id=organization_id, roles=list(roles),
                issuer=ISSUER, audience=AUDIENCE, ttl_seconds=ttl_seconds, kind="person",
                name=person[1], amr=["pwd", "otp", "mfa"],
            )
        return self.key.issue(
            subject=f"test-{uuid.uuid4().hex[:8]}", organization_id=organization_id,
            roles=list(roles), issuer=ISSUER, audience=AUDIENCE, ttl_seconds=ttl_seconds,
            name="test client",
        )

    def headers(self, organization_id: uuid.UUID | None, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(organization_id, *roles)}"}

    async def key_source(self) -> dict[str, Any]:
        return {"keys": [self.key.jwk()]}


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def create_database(prefix: str, template: str | None = None) -> str:
    """A new PostgreSQL database, empty or a copy of the database named `template`; returns its
    SQLAlchemy URL."""
    name = unique_name(prefix)
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        copied = f' TEMPLATE "{template}"' if template else ""
        await connection.execute(f'CREATE DATABASE "{name}"{copied}')
    finally:
        await connection.close()
    return f"{POSTGRES_URL}/{name}"


async def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


# --- Upgrades: data of an earlier revision carried to the current one -------------------------


def revisions(script_location: Path) -> list[str]:
    """Every revision of a service's history, oldest first."""
    scripts = ScriptDirectory.from_config(alembic_config("", script_location))
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


# The tables SQLite keeps for each full-text (FTS5) table, written by it alone.
FTS5_SHADOW_TABLES = ("data", "idx", "content", "docsize", "config")


async def _own_tables(connection: AsyncConnection) -> set[str]:
    """Tables the database writes itself: Alembic's, and SQLite's full-text index tables."""
    own = {"alembic_version"}
    if connection.dialect.name == "sqlite":
        full_text = await connection.scalars(sa.text(
            "SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'"
        ))
        own |= {f"{name}_{suffix}" for name in full_text for suffix in FTS5_SHADOW_TABLES}
    return own


async def table_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the service writes, by table."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            metadata = sa.MetaData()
            await connection.run_sync(metadata.reflect)
            own = await _own_tables(connection)
            return {
                table.name: [
                    dict(row._mapping) for row in await connection.execute(sa.select(table))
                ]
                for table in metadata.sorted_tables
                if table.name not in own
            }
    finally:
        await engine.dispose()


async def write_rows_as_at_revision(
    url: str, rows: dict[str, list[dict[str, Any]]], derived: Collection[str] = ()
) -> list[str]:
    """Writes `rows` (taken at the current revision) into a database at an earlier one, as the
    code of that time wrote them: each table that exists there, with the columns it has there.
    Left to the database: its own tables, the `derived` ones (its triggers fill them), and any that holds
    rows already when its turn comes (the migrations' seed data, or what triggers on the tables
    written before it wrote). Returns the tables written."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            metadata = sa.MetaData()
            await connection.run_sync(metadata.reflect)
            written = []
            own = await _own_tables(connection)
            for table in metadata.sorted_tables:
                if table.name in derived or table.name in own or not rows.get(table.name):
                    continue
                if await connection.scalar(sa.select(sa.exists().select_from(table))):
                    continue
                # Generated columns are the database's to fill.
                columns = {column.name for column in table.columns if column.computed is None}
                await connection.execute(
                    table.insert(),
                    [{k: v for k, v in row.items() if k in columns} for row in rows[table.name]],
                )
                written.append(table.name)
            return written
    finally:
        await engine.dispose()


async def downgrade(
    url: str, script_location: Path, revision: str, settings: Settings | None = None
) -> None:
    config = alembic_config(url, script_location, settings)
    await asyncio.to_thread(command.downgrade, config, revision)


@asynccontextmanager
async def throwaway_database(dialect: str, prefix: str, folder: Path) -> AsyncIterator[str]:
    """A new, empty database on `dialect` (its SQLAlchemy URL): a SQLite file in `folder`, or a
    PostgreSQL database dropped at the end."""
    if dialect == "sqlite":
        yield _sqlite_url(prefix, folder)
        return
    url = await create_database(prefix)
    try:
        yield url
    finally:
        await drop_database(url)


@contextmanager
def shared_database(dialect: str, prefix: str, folder: Path, migrations: Path) -> Iterator[str]:
    """A migrated throw-away database that many tests share (a session's or a module's fixture),
    made outside the tests' event loops."""
    if dialect == "sqlite":
        url = _sqlite_url(prefix, folder)
        asyncio.run(upgrade(url, migrations))
        yield url
        return
    url = asyncio.run(create_database(prefix))
    try:
        asyncio.run(upgrade(url, migrations))
        yield url
    finally:
        asyncio.run(drop_database(url))


@asynccontextmanager
async def copy_of_database(template_url: str, prefix: str, folder: Path) -> AsyncIterator[str]:
    """A new database holding what the database at `template_url` holds (no one may be connected
    to it): a copy of its SQLite file in `folder`, or a PostgreSQL database made from it as a
    template and dropped at the end. A test gets a migrated database without running Alembic."""
    source = make_url(template_url)
    if source.get_backend_name() == "sqlite":
        url = _sqlite_url(prefix, folder)
        copy = Path(make_url(url).database or "")
        create_private_file(copy)
        copy.write_bytes(Path(source.database or "").read_bytes())
        yield url
        return
    url = await create_database(prefix, template=source.database)
    try:
        yield url
    finally:
        await drop_database(url)


def _sqlite_url(prefix: str, folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder / unique_name(prefix)}.db"
