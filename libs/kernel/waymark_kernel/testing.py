"""Helpers for the tests of every service: a token issuer of their own and throw-away
databases. Tests need real PostgreSQL and RabbitMQ; they fail if either is down."""

import asyncio
import io
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
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


def free_port_block(size: int) -> int:
    """A base port with `size` consecutive free loopback ports from it, below the kernel's
    ephemeral range (32768 up), where an outgoing connection of another test could take a port
    between this choice and the bind of the process it is for."""
    for _ in range(200):
        base = 20000 + secrets.randbelow(12000 - size)
        try:
            for offset in range(size):
                with socket.socket() as taken:
                    taken.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no block of free ports")


def free_port() -> int:
    return free_port_block(1)


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


# The shape of a PostgreSQL database's own schema: its tables, columns, functions and triggers.
SCHEMA_FINGERPRINT = """
SELECT md5(string_agg(part, ',' ORDER BY part)) FROM (
    SELECT format('%s.%s:%s', c.relname, a.attname, a.atttypid) AS part
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE n.nspname = 'public'
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
    UNION ALL
    SELECT 'trigger ' || t.tgname FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT t.tgisinternal
) parts
"""


@dataclass(frozen=True)
class _Contents:
    """What a PostgreSQL database holds: the rows of each table that has any (COPY's binary
    form), the state of each sequence, and the schema's fingerprint."""

    tables: list[str]
    rows: dict[str, bytes]
    sequences: list[tuple[str, int, bool]]
    fingerprint: str

    @classmethod
    async def read(cls, connection: asyncpg.Connection) -> "_Contents":
        tables = [name for (name,) in await connection.fetch(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'"
        )]
        rows = {}
        for table in tables:
            if await connection.fetchval(f"SELECT EXISTS (SELECT FROM {table})"):  # noqa: S608 -- a quoted name
                buffer = io.BytesIO()
                await connection.copy_from_table(table, output=buffer, format="binary")
                rows[table] = buffer.getvalue()
        sequences = [tuple(row) for row in await connection.fetch(
            "SELECT quote_ident(sequencename), coalesce(last_value, start_value), "
            "last_value IS NOT NULL FROM pg_sequences WHERE schemaname = 'public'"
        )]
        fingerprint = await connection.fetchval(SCHEMA_FINGERPRINT)
        return cls(tables, rows, sequences, fingerprint)

    async def write(self, connection: asyncpg.Connection) -> None:
        """Makes the database at `connection` (nobody else connected) hold these contents; raises
        `ValueError`, changing nothing, when its schema is not the one they were read from."""
        async with connection.transaction():
            # Triggers off: the rows written back are what the template's triggers left.
            await connection.execute(
                "SET LOCAL lock_timeout = '5s'; SET LOCAL session_replication_role = replica"
            )
            if await connection.fetchval(SCHEMA_FINGERPRINT) != self.fingerprint:
                raise ValueError("the database's schema is not the template's")
            # DELETE, not TRUNCATE: a test's few rows cost less than new files for every table.
            for table in self.tables:
                await connection.execute(f"DELETE FROM {table}")  # noqa: S608 -- a quoted name
            for table, rows in self.rows.items():
                await connection.copy_to_table(table, source=io.BytesIO(rows), format="binary")
            for sequence, value, called in self.sequences:
                await connection.execute("SELECT setval($1::regclass, $2, $3)", sequence, value, called)


class DatabaseCopies:
    """Databases holding what the migrated database at `template_url` holds, one for each test,
    so that a test gets a migrated database without running Alembic. On SQLite, a copy of the
    template's file. On PostgreSQL, a database made from the template is handed, once its test is
    done, to the next test, emptied and refilled with the template's rows: about 0.02 s of server
    CPU instead of 0.1 to 0.3 s for each new `CREATE DATABASE … TEMPLATE` and its drop."""

    def __init__(self, template_url: str, prefix: str) -> None:
        self.template = make_url(template_url)
        self.prefix = prefix
        self._contents: _Contents | None = None
        self._spare: list[str] = []

    @asynccontextmanager
    async def copy(self, folder: Path) -> AsyncIterator[str]:
        """A database of the caller's own (its SQLAlchemy URL): on SQLite, a file in `folder`."""
        if self.template.get_backend_name() == "sqlite":
            url = _sqlite_url(self.prefix, folder)
            copy = Path(make_url(url).database or "")
            create_private_file(copy)
            copy.write_bytes(Path(self.template.database or "").read_bytes())
            yield url
            return
        contents = await self._template_contents()
        url = self._spare.pop() if self._spare else await create_database(
            self.prefix, template=self.template.database
        )
        try:
            yield url
        finally:
            if await _restored(url, contents):
                self._spare.append(url)
            else:
                await drop_database(url)

    async def drop_spares(self) -> None:
        while self._spare:
            await drop_database(self._spare.pop())

    async def _template_contents(self) -> _Contents:
        if self._contents is None:
            connection = await asyncpg.connect(_dsn(self.template))
            try:
                self._contents = await _Contents.read(connection)
            finally:
                await connection.close()
        return self._contents


async def _restored(url: str, contents: _Contents) -> bool:
    """Whether the copy at `url` holds `contents` again; False when it cannot (its schema was
    changed, or a table stayed locked)."""
    connection = await asyncpg.connect(_dsn(make_url(url)))
    try:
        # What a test left connected (a pool it did not close) would see the next test's rows.
        await connection.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        await contents.write(connection)
    except (ValueError, asyncpg.PostgresError):
        return False
    finally:
        await connection.close()
    return True


@contextmanager
def database_copies(template_url: str, prefix: str) -> Iterator[DatabaseCopies]:
    """`DatabaseCopies` of a session's shared database; the spare copies are dropped at the end."""
    copies = DatabaseCopies(template_url, prefix)
    try:
        yield copies
    finally:
        asyncio.run(copies.drop_spares())


def _dsn(url: sa.URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_url(prefix: str, folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder / unique_name(prefix)}.db"
