"""Async database access. The request's session dependency owns the transaction."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

COMMITTED_HOOKS = "after_commit_hooks"
ORIGIN = "database_origin"  # the session's Database, named in its outbox notifications


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        if database:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 10})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping: on asyncpg it costs three round trips per checkout. A connection the server
    # dropped fails its one request, and SQLAlchemy then replaces every older pooled connection.
    # All 20 connections stay open: overflow ones were closed and reopened (a new server
    # process each) all the time under more than 10 concurrent requests.
    return create_async_engine(url, pool_size=20, max_overflow=0)


class Database:
    """One service's database: engine, sessions, and hooks run after a commit succeeds."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Outside any transaction: a read of one statement needs no BEGIN and COMMIT round trips.
        self.readers = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
        )
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


async def _request_reader(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.database.readers() as session:
        yield session


# For a request that reads with a single statement (one snapshot) and writes nothing.
ReaderDep = Annotated[AsyncSession, Depends(_request_reader)]
