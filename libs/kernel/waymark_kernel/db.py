"""Async database access. The request's session dependency owns the transaction."""

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, cast

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import (
    ARRAY,
    JSON,
    Boolean,
    String,
    Table,
    TypeDecorator,
    bindparam,
    event,
    insert,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Dialect, ExceptionContext, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.util import greenlet_spawn
from sqlmodel import SQLModel

from waymark_kernel.files import OWNER_ONLY_FILE, create_private_file, tighten
from waymark_kernel.problems import DatabaseUnavailable, connection_lost

COMMITTED_HOOKS = "after_commit_hooks"
ORIGIN = "database_origin"  # the session's Database, named in its outbox notifications


def table_of(model: type[SQLModel]) -> Table:
    """A table model's table, which SQLModel sets on the class without declaring it."""
    table: Table = model.__table__  # type: ignore[attr-defined]  # set by SQLModel's metaclass, undeclared
    return table


async def changed_rows(session: AsyncSession, statement: UpdateBase) -> int:
    """Runs an UPDATE or DELETE in the session's transaction; how many rows it changed."""
    result = cast(CursorResult[Any], await session.execute(statement))  # DML answers with a cursor
    return result.rowcount


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_private_sqlite_file(url: str) -> None:
    """The SQLite file of `url` created for its owner only, or tightened with its journals when
    it exists; SQLite gives the journals it creates the database file's permissions."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    create_private_file(Path(database))
    for journal in ("-wal", "-shm", "-journal"):
        tighten(Path(database + journal), OWNER_ONLY_FILE)


def _writer_before_a_locking_read(connection: Any, statement: str, *_args: object) -> None:
    """SQLite locks no rows, and its driver begins a transaction only at a write: a read
    `FOR UPDATE` first makes its transaction the one writer, so that what it reads stays
    current until the transaction ends (another one's read-then-write waits, then reads anew)."""
    if (getattr(statement, "_for_update_arg", None) is not None
            and not connection.connection.driver_connection.in_transaction):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _a_lost_connection_is_a_disconnect(context: ExceptionContext) -> None:
    """SQLAlchemy replaces a connection, and every older one of the pool, on a disconnect its
    dialect knows of; asyncpg raises some on a dropped connection that it does not (a failed
    protocol after the server's goodbye, raised as the driver's own error)."""
    if connection_lost(context.original_exception):
        context.is_disconnect = True  # type: ignore[misc]  # settable as documented; declared on a slotted base


def create_engine(url: str) -> AsyncEngine:
    if is_sqlite(url):
        create_private_sqlite_file(url)
        engine = create_async_engine(url, connect_args={"timeout": 10})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "before_execute", _writer_before_a_locking_read)
        return engine
    # No pre-ping: on asyncpg it costs three round trips per checkout. A connection the server
    # dropped fails its one request, and SQLAlchemy then replaces every older pooled connection.
    # All 20 connections stay open: overflow ones were closed and reopened (a new server
    # process each) all the time under more than 10 concurrent requests.
    engine = create_async_engine(url, pool_size=20, max_overflow=0)
    event.listen(engine.sync_engine, "handle_error", _a_lost_connection_is_a_disconnect)
    return engine


class Database:
    """One service's database: engine, sessions, and hooks run after a commit succeeds."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Outside any transaction: a read of one statement needs no BEGIN and COMMIT round trips
        # (SQLite's connections; on PostgreSQL the reader reads on the driver's, in none).
        self.reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.on_outbox_commit: Callable[[], None] | None = None  # set by the outbox relay
        self.origin = uuid.uuid4().hex

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed when the block ends, rolled back if it raises."""
        async with self.sessions() as session:
            session.info["on_outbox_commit"] = self.on_outbox_commit
            session.info[ORIGIN] = self.origin
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        for hook in session.info.pop(COMMITTED_HOOKS, {}).values():
            hook()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await asyncio.wait_for(connection.execute(text("SELECT 1")), timeout=2)

    async def dispose(self) -> None:
        await self.engine.dispose()


def after_commit(session: AsyncSession, key: str, hook: Callable[[], None]) -> None:
    """Run `hook` once after this session's transaction commits (e.g. wake the outbox relay)."""
    session.info.setdefault(COMMITTED_HOOKS, {})[key] = hook


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.database.transaction() as session:
        yield session


# scope="function": the commit happens before the response is sent, so a client that
# reads right after a write sees it, and a failed commit becomes an error response.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]


async def _request_reader(request: Request) -> AsyncEngine:
    database: Database = request.app.state.database
    return database.reader


# For a request that reads with a single statement (one snapshot) and writes nothing: the
# engine, of which the statement takes a connection for itself. A session and its connection
# cost a search on PostgreSQL more CPU (105 µs) than the pool's connection alone (18 µs).
ReaderDep = Annotated[AsyncEngine, Depends(_request_reader)]


@asynccontextmanager
async def pooled_driver(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """PostgreSQL: asyncpg's connection of one of the pool's, outside any transaction. When the
    server dropped it, the request answers 503 to try again and every connection opened before
    is replaced (a restart dropped them all), so that the next requests find fresh ones."""
    pooled = await engine.raw_connection()
    driver = cast(asyncpg.Connection, pooled.driver_connection)  # the engine's driver is asyncpg
    try:
        yield driver
    except BaseException as exc:
        # the server went away: the pool's older connections are replaced at checkout
        if driver.is_closed() or connection_lost(exc):
            await greenlet_spawn(engine.pool._invalidate, pooled, exc)  # as SQLAlchemy does on a disconnect
            raise DatabaseUnavailable() from exc
        if isinstance(exc, asyncio.CancelledError):  # left mid-statement
            await greenlet_spawn(pooled.invalidate, exc)
        raise
    finally:
        await greenlet_spawn(pooled.close)  # a close that must reset the connection awaits


class AnyOf(ColumnElement[bool]):
    """`column IN (the values of the parameter `name`)`, a list given when the statement runs as
    one parameter (`= ANY` on PostgreSQL, a JSON array elsewhere), so the statement text is the
    same for any number."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement), ("name", InternalTraversal.dp_string),
    ]

    def __init__(self, column: ColumnElement[Any] | Mapped[Any], name: str) -> None:
        # a model's attribute (SQLModel's col()) compiles as its column
        self.column = cast(ColumnElement[Any], column)
        self.name = name


@compiles(AnyOf, "postgresql")
def _any_of_on_postgresql(element: AnyOf, compiler: Any, **kw: Any) -> str:
    values = bindparam(element.name, type_=ARRAY(element.column.type))
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(values, **kw)})"


class _JsonList(TypeDecorator[Sequence[Any]]):
    """A list bound as one JSON array, each value as its column stores it (SQLite's json_each
    reads it back)."""

    impl = String
    cache_ok = True

    def __init__(self, item: Any) -> None:
        super().__init__()
        self.item = item

    def process_bind_param(self, value: Sequence[Any] | None, dialect: Dialect) -> str:
        process = self.item.dialect_impl(dialect).bind_processor(dialect)
        return json.dumps([item if process is None else process(item) for item in value or ()])


@compiles(AnyOf)
def _any_of(element: AnyOf, compiler: Any, **kw: Any) -> str:
    values = bindparam(element.name, type_=_JsonList(element.column.type))
    return (f"{compiler.process(element.column, **kw)} IN "  # noqa: S608 -- both parts are compiled, bound SQL
            f"(SELECT value FROM json_each({compiler.process(values, **kw)}))")


async def driver_in_transaction(session: AsyncSession) -> asyncpg.Connection | None:
    """asyncpg's connection, once the transaction has begun on it (SQLAlchemy sends the BEGIN
    with its first statement); None before, and elsewhere than on PostgreSQL."""
    if session.bind.dialect.name != "postgresql":
        return None
    pooled = await (await session.connection()).get_raw_connection()
    driver = cast(asyncpg.Connection, pooled.driver_connection)  # the engine's driver is asyncpg
    return driver if driver.is_in_transaction() else None


INSERT_SLICE = 500


async def insert_rows(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """New rows in bulk, inside the session's transaction: COPY on PostgreSQL (far fewer round
    trips and no statement to parse per row), one executemany elsewhere. Every row has the keys
    of the first (two at least); on PostgreSQL the rows' JSON values become text."""
    if not rows:
        return
    await session.flush()  # rows these reference may still be pending in the session
    if session.bind.dialect.name != "postgresql":
        # Binding a slice's values is Python work on the event loop: slices keep each short.
        for start in range(0, len(rows), INSERT_SLICE):
            await session.execute(insert(table), rows[start:start + INSERT_SLICE])
        return
    columns = list(rows[0])
    for column in columns:
        if isinstance(table.c[column].type, JSON):
            for row in rows:  # COPY takes JSON as text; these rows are only for inserting
                row[column] = json.dumps(row[column])
    records = list(map(itemgetter(*columns), rows))
    driver = await driver_in_transaction(session)
    if driver is None:  # a COPY first would run outside the transaction
        await session.execute(text("SELECT 1"))
        driver = await driver_in_transaction(session)
    if driver is None:
        raise RuntimeError("no PostgreSQL transaction to copy the rows in")
    try:
        await driver.copy_records_to_table(table.name, records=records, columns=columns)
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(f"COPY {table.name}", None, exc) from exc


DIALECTS = frozenset({"postgresql", "sqlite"})


@dataclass
class StatementRecord:
    """A prepared statement's place in the code, the dialects it is for and those it ran on."""

    defined_at: str
    dialects: set[str] = field(default_factory=set)
    ran_on: set[str] = field(default_factory=set)


# Every Prepared and Upsert defined so far, by place (those built at one place share a record):
# the tests check that each ran on every dialect it is for.
STATEMENTS: dict[str, StatementRecord] = {}


def _record_at_caller(dialects: frozenset[str]) -> StatementRecord:
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    if frame is None:
        raise RuntimeError("a statement defined outside any module")
    defined_at = f"{frame.f_globals['__name__']}:{frame.f_lineno}"
    record = STATEMENTS.setdefault(defined_at, StatementRecord(defined_at))
    record.dialects |= dialects
    return record


class Prepared:
    """A statement built once per dialect, run with values in the session's transaction: the
    values bind its parameters only (never columns of an UPDATE's SET, as SQLAlchemy reads the
    keys of values it is given), and the text is run by the driver itself. On PostgreSQL
    asyncpg runs it compiled once: through SQLAlchemy, keying, compiling and processing a small
    statement cost more CPU than the database took to run it. Values pass the columns' bind
    processors (JSON) and, off PostgreSQL, results their result processors, as through
    SQLAlchemy; rows come back as tuples. `only_on` names the one dialect a statement is for;
    `record` is given by an `Upsert`, whose statement of each dialect shares its record."""

    def __init__(
        self, statement: Select[Any] | UpdateBase, *, columns: Sequence[str] | None = None,
        only_on: str | None = None, record: StatementRecord | None = None,
    ) -> None:
        self.statement = statement
        self.columns = columns  # an INSERT's columns, given by every row
        self.record = record or _record_at_caller(
            DIALECTS if only_on is None else frozenset({only_on})
        )
        self._compiled: dict[str, _DriverStatement] = {}

    @classmethod
    def insert_into(cls, table: Table) -> "Prepared":
        """An INSERT of rows that give every column of `table`."""
        return cls(insert(table), columns=tuple(table.columns.keys()))

    async def fetch(self, session: AsyncSession, **values: Any) -> Sequence[Sequence[Any]]:
        dialect = session.bind.dialect
        compiled = self._for_dialect(dialect)
        arguments = compiled.arguments(values)
        rows: Sequence[Sequence[Any]]
        if dialect.name != "postgresql":
            rows = compiled.processed((await self._run(session, compiled.text, arguments)).all())
        elif (driver := await driver_in_transaction(session)) is None:
            rows = (await self._run(session, compiled.text, arguments)).all()
        else:
            # asyncpg's records index by position, as rows do
            rows = cast(list[Sequence[Any]], await driver.fetch(compiled.text, *arguments))
        self.record.ran_on.add(dialect.name)
        return rows

    async def execute(self, session: AsyncSession, **values: Any) -> None:
        dialect = session.bind.dialect
        compiled = self._for_dialect(dialect)
        arguments = compiled.arguments(values)
        driver = await driver_in_transaction(session)
        if driver is None:
            await self._run(session, compiled.text, arguments)
        else:
            await driver.execute(compiled.text, *arguments)
        self.record.ran_on.add(dialect.name)

    async def execute_many(self, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        dialect = session.bind.dialect
        compiled = self._for_dialect(dialect)
        arguments = [compiled.arguments(row) for row in rows]
        driver = await driver_in_transaction(session)
        if driver is None:
            await (await session.connection()).exec_driver_sql(compiled.text, arguments)
        else:
            await driver.executemany(compiled.text, arguments)
        self.record.ran_on.add(dialect.name)

    @staticmethod
    async def _run(
        session: AsyncSession, text_: str, arguments: tuple[Any, ...]
    ) -> CursorResult[Any]:
        """Through SQLAlchemy's connection, as text: SQLite's statements, and on PostgreSQL the
        transaction's first statement, which SQLAlchemy sends with the BEGIN (compiling it
        again cost as much as the rest, and an upsert is never cached)."""
        return await (await session.connection()).exec_driver_sql(text_, arguments)

    def _for_dialect(self, dialect: Dialect) -> "_DriverStatement":
        compiled_for = self._compiled.get(dialect.name)
        if compiled_for is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=self.columns)
            names = tuple(compiled.positiontup or ())
            compiled_for = self._compiled[dialect.name] = _DriverStatement(
                compiled.string, names,
                {name: compiled.binds[name].effective_value for name in names
                 if not compiled.binds[name].required},
                {name: processor for name in names
                 if (processor := compiled.binds[name].type.dialect_impl(dialect)
                     .bind_processor(dialect)) is not None},
                tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                      for column in self.statement.exported_columns),
            )
        return compiled_for


class Upsert:
    """An INSERT of every column of `table` with an ON CONFLICT clause, which `conflict` adds to
    the dialect's own insert: a `Prepared` built once per dialect (SQLAlchemy compiles an
    upsert at every run, never from its cache)."""

    def __init__(self, table: Table, conflict: Callable[[Any], UpdateBase]) -> None:
        self.table = table
        self.conflict = conflict
        self.record = _record_at_caller(DIALECTS)
        self._prepared: dict[str, Prepared] = {}

    def of(self, session: AsyncSession) -> Prepared:
        dialect = session.bind.dialect.name
        if dialect not in self._prepared:
            insert_of = postgresql.insert if dialect == "postgresql" else sqlite.insert
            self._prepared[dialect] = Prepared(
                self.conflict(insert_of(self.table)), columns=tuple(self.table.columns.keys()),
                record=self.record,
            )
        return self._prepared[dialect]


@dataclass(frozen=True)
class _DriverStatement:
    text: str
    names: tuple[str, ...]
    constants: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]
    result_processors: tuple[Callable[[Any], Any] | None, ...]

    def arguments(self, values: dict[str, Any]) -> tuple[Any, ...]:
        arguments = []
        for name in self.names:
            value = values[name] if name in values else self.constants[name]
            processor = self.processors.get(name)
            arguments.append(value if processor is None or value is None else processor(value))
        return tuple(arguments)

    def processed(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Rows as SQLAlchemy would return them (the driver's own values on PostgreSQL)."""
        if not any(self.result_processors):
            return [tuple(row) for row in rows]
        return [
            tuple(value if process is None or value is None else process(value)
                  for process, value in zip(self.result_processors, row, strict=True))
            for row in rows
        ]
