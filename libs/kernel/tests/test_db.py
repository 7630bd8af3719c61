"""A request meets a database connection that a restart dropped: a 503 problem to retry, and the
next request is served."""

import asyncio
import contextlib
import socket

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from waymark_kernel.db import Database, ReaderDep, SessionDep, pooled_driver
from waymark_kernel.web import create_base_app


def counting_app(database) -> FastAPI:
    app = create_base_app("db", title="Database", lifespan=None, checks={})
    app.state.database = database

    @app.get("/outbox/size")
    async def outbox_size(session: SessionDep) -> dict:
        return {"size": (await session.execute(sa.text("SELECT count(*) FROM outbox"))).scalar_one()}

    @app.get("/outbox/size/read")
    async def outbox_size_read(reader: ReaderDep) -> dict:
        async with pooled_driver(reader) as driver:
            return {"size": await driver.fetchval("SELECT count(*) FROM outbox")}

    return app


@pytest.mark.parametrize("path", ["/outbox/size", "/outbox/size/read"])
async def test_a_dropped_database_connection_answers_503_to_retry_and_the_next_request_works(
    postgres, dropped, path
):
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
async def test_a_database_that_refuses_connections_answers_503_to_retry(path):
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


async def test_after_a_restart_only_the_first_read_fails_the_pools_other_connections_are_replaced(
    postgres, dropped
):
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
