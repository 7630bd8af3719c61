"""Fixtures: the network started as a user starts it, and a local webhook receiver."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from aiohttp import web

from gateway.tests.conftest import REDIS_URL
from tests.e2e.support import Network, WebhookReceiver, clean_up, start, stop


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[Network]:
    network = start("run", tmp_path, {"WAYMARK_SEED_DEMO": "false"})
    yield network
    stop(network)


@contextlib.contextmanager
def distributed_network(tmp_path: Path, extra_env: dict[str, str]) -> Iterator[Network]:
    """`waymark up` on databases, an exchange and queues of its own, removed afterwards."""
    unique = uuid.uuid4().hex[:10]
    prefix, exchange, queues = f"e2e_{unique}", f"e2e.{unique}.events", f"e2e.{unique}"
    network = start("up", tmp_path, {
        "WAYMARK_DATABASE_PREFIX": prefix, "WAYMARK_EVENT_EXCHANGE": exchange,
        "WAYMARK_QUEUE_PREFIX": queues, "WAYMARK_SEED_DEMO": "false", **extra_env,
    })
    try:
        yield network
    finally:
        stop(network)
        asyncio.run(clean_up(prefix, exchange, queues))


@pytest.fixture
def distributed(tmp_path: Path) -> Iterator[Network]:
    with distributed_network(tmp_path, {}) as network:
        yield network


@pytest.fixture
def distributed_with_redis(tmp_path: Path) -> Iterator[Network]:
    """The distributed network as deployed: the gateway's sessions and limits in Redis, under
    a key prefix of its own, whose keys are removed afterwards."""
    prefix = f"waymark-e2e:{uuid.uuid4().hex}:"
    with distributed_network(tmp_path, {
        "WAYMARK_REDIS_URL": REDIS_URL, "WAYMARK_REDIS_KEY_PREFIX": prefix,
    }) as network:
        yield network
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(url="")

    async def accept(request: web.Request) -> web.Response:
        receiver.received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    _, port = runner.addresses[0]
    receiver.url = f"http://127.0.0.1:{port}/hooks"
    yield receiver
    await runner.cleanup()
