"""A request meets a database connection that a restart dropped: a 503 problem to retry, and the
next request is served."""

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from libs.kernel.tests.conftest import nothing_to_start
from waymark_kernel.db import Database, ReaderDep, SessionDep, pooled_driver
from waymark_kernel.web import create_base_app


def counting_app(database: Database) -> FastAPI:
    app = create_base_app("db", title="Database", lifespan=nothing_to_start, checks={})
    app.state.database = database

    @app.get("/outbox/size")
    async def outbox_size(session: SessionDep) -> dict[str, Any]:
        return {"size": (await session.execute(sa.text("SELECT count(*) FROM outbox"))).scalar_one()}

    @app.get("/outbox/size/read")
    async def outbox_size_read(reader: ReaderDep) -> dict[str, Any]:
        async with pooled_driver(reader) as driver:
            return {"size": await driver.fetchval("SELECT count(*) FROM outbox")}

    return app


@pytest.mark.parametrize("path", ["/outbox/size", "/outbox/size/read"])
async def test_postgresql_a_dropped_database_connection_answers_503_to_retry_and_the_next_request_works(
    postgres: Database, dropped: Callable[[Database], Awaitable[int]], path: str
) -> None:
    """In a transaction of the request's session, and on a reader's pooled connection."""
    app = counting_app(postgres)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://waymark.test"
    ) as client:
        assert (await client.get(path)).json() == {"size": 0}

        await dropped(postgres)
        await asyncio.sleep(0.5)  # the pooled connection has read the server's goodbye by now
        lost = await client.get(path)

        assert lost.status_code == 503
        assert lost.headers["content-type"] == "application/problem+json"
        assert lost.headers["retry-after"] == "1"
        assert lost.json()["type"].endswith("/database-unavailable")
        assert "postgres" not in lost.text.lower()  # nothing of the connection is told
        again = await client.get(path)
        assert (again.status_code, again.json()) == (200, {"size": 0})


@pytest.mark.parametrize("path", ["/outbox/size", "/outbox/size/read"])
async def test_a_database_that_refuses_connections_answers_503_to_retry(path: str) -> None:
    """As while PostgreSQL restarts: no connection can be made at all."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    database = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/waymark")
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=counting_app(database)), base_url="http://waymark.test"
        ) as client:
            refused = await client.get(path)
    finally:
        await database.dispose()

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["type"].endswith("/database-unavailable")
    assert str(port) not in refused.text


async def test_postgresql_after_a_restart_only_the_first_read_fails_the_pools_other_connections_are_replaced(
    postgres: Database, dropped: Callable[[Database], Awaitable[int]]
) -> None:
    app = counting_app(postgres)
    async with contextlib.AsyncExitStack() as held:  # three connections left idle in the pool
        for _ in range(3):
            await held.enter_async_context(pooled_driver(postgres.engine))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://waymark.test"
    ) as client:
        await dropped(postgres)
        await asyncio.sleep(0.5)  # the pooled connections have read the server's goodbye by now
        answers = [(await client.get("/outbox/size/read")).status_code for _ in range(3)]

    assert answers == [503, 200, 200]


class GoodbyeHeldRelay:
    """A TCP relay to PostgreSQL that passes on all the server says, its goodbye included, but
    keeps the client's socket open after the server closed its end, until the client writes or
    closes: the moment of a restart when a pooled connection has read the server's FATAL message
    and not yet the close (asyncpg's protocol is then in a failed state, the connection open)."""

    def __init__(self, server: tuple[str, int]) -> None:
        self.server = server
        self.sockets: set[asyncio.StreamWriter] = set()
        self.listener: asyncio.Server | None = None

    async def start(self) -> int:
        self.listener = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port: int = self.listener.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        for writer in self.sockets:
            writer.close()
        if self.listener is not None:
            self.listener.close()

    async def _relay(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        server, to_server = await asyncio.open_connection(*self.server)
        self.sockets |= {to_client, to_server}
        to_client_done = asyncio.ensure_future(self._pipe(server, to_client))
        await self._pipe(client, to_server)  # the client wrote after the goodbye, or closed
        to_server.close()
        to_client.close()
        await to_client_done

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                if sink.is_closing():
                    return
                sink.write(data)
                await sink.drain()


@pytest.mark.parametrize("path", ["/outbox/size", "/outbox/size/read"])
async def test_postgresql_a_connection_that_read_the_servers_goodbye_before_its_close_answers_503_and_is_replaced(
    postgres: Database, dropped: Callable[[Database], Awaitable[int]], path: str
) -> None:
    """asyncpg raises `InternalClientError: cannot switch to state …; another operation is in
    progress` on such a connection: a 503 to retry, and the pool's connections of before the
    restart are replaced, so that only the first request fails."""
    url = sa.make_url(postgres.url)
    relay = GoodbyeHeldRelay((url.host or "127.0.0.1", url.port or 5432))
    relayed = Database(url.set(port=await relay.start()).render_as_string(hide_password=False))
    try:
        async with contextlib.AsyncExitStack() as held:  # three connections left idle in the pool
            for _ in range(3):
                await held.enter_async_context(pooled_driver(relayed.engine))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=counting_app(relayed)), base_url="http://waymark.test"
        ) as client:
            await dropped(postgres)
            await asyncio.sleep(0.5)  # each pooled connection has read the server's goodbye
            answers = [await client.get(path) for _ in range(3)]
    finally:
        await relay.close()
        await relayed.dispose()

    lost = answers[0]
    assert (lost.status_code, lost.headers["retry-after"]) == (503, "1")
    assert lost.json()["type"].endswith("/database-unavailable")
    assert [(answer.status_code, answer.json()) for answer in answers[1:]] == [(200, {"size": 0})] * 2
