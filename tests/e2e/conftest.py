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
from tests.e2e.support import Network, WebhookReceiver, network_of


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[Network]:
    with network_of("run", tmp_path, {}) as network:
        yield network


@pytest.fixture
def distributed(tmp_path: Path) -> Iterator[Network]:
    with network_of("up", tmp_path, {}) as network:
        yield network


@pytest.fixture
def distributed_with_redis(tmp_path: Path) -> Iterator[Network]:
    """The distributed network as deployed: the gateway's sessions and limits in Redis, under
    a key prefix of its own, whose keys are removed afterwards."""
    prefix = f"waymark-e2e:{uuid.uuid4().hex}:"
    with network_of("up", tmp_path, {
        "WAYMARK_REDIS_URL": REDIS_URL, "WAYMARK_REDIS_KEY_PREFIX": prefix,
    }) as network:
        yield network
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


@contextlib.asynccontextmanager
async def serving(receiver: WebhookReceiver) -> AsyncIterator[WebhookReceiver]:
    """The receiver on a loopback port of its own, answering every delivery with its status."""

    async def accept(request: web.Request) -> web.Response:
        receiver.arrived_at.append(asyncio.get_running_loop().time())
        receiver.received.append((dict(request.headers), await request.read()))
        return web.Response(status=receiver.status)

    app = web.Application()
    app.router.add_post("/hooks", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    _, port = runner.addresses[0]
    receiver.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    async with serving(WebhookReceiver(url="")) as receiver:
        yield receiver


@pytest.fixture
async def failing_webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    async with serving(WebhookReceiver(url="", status=500)) as receiver:
        yield receiver
