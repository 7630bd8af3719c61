"""The notifications service as its own process (`waymark serve notifications`) on PostgreSQL
and real RabbitMQ; events are published on RabbitMQ as the other services do; receivers and
the JWKS the service trusts are served by the test on loopback."""

import asyncio
import base64
import contextlib
import os
import signal
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import httpx
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from waymark_kernel.events import CloudEvent, EventData
from waymark_kernel.messaging.rabbitmq import RabbitMqBroker
from waymark_kernel.testing import RABBITMQ_URL, TestIssuer, free_port, unique_name

READY_SECONDS = 30
WAIT_SECONDS = 60


@dataclass
class Endpoint:
    """A partner's receiver: applies each webhook-id once; answers `status` (200 when up)."""

    organization_id: uuid.UUID
    url: str
    status: int = 200
    secret: str | None = None
    requests: int = 0
    forged: int = 0  # requests whose signature did not verify with `secret`
    applied: dict[str, dict[str, Any]] = field(default_factory=dict)  # webhook-id → verified body
    raw: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        if self.status != 200:
            return web.Response(status=self.status)
        self.raw.append((dict(request.headers), body))
        try:
            # without a secret yet, Webhook refuses the empty one: the request counts as forged
            payload = Webhook(self.secret or "").verify(body, dict(request.headers))
        except Exception:
            self.forged += 1
            return web.Response(status=400)
        self.applied.setdefault(request.headers["webhook-id"], payload)
        self._changed.set()
        return web.Response(status=200)

    def event_ids(self) -> list[str]:
        return [_event_key(payload) for payload in self.applied.values()]

    async def wait_for(self, count: int) -> None:
        async def arrived() -> None:
            while len(self.applied) < count:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(arrived(), WAIT_SECONDS)


def _event_key(payload: dict[str, Any]) -> str:
    """Events of these tests carry a unique referral or service id."""
    data = payload["data"]
    return str(data.get("referral_id") or data.get("service_id") or data.get("subscription_id"))


class NotificationsProcess:
    def __init__(self, environment: dict[str, str], port: int) -> None:
        self.environment = environment
        self.port = port
        self.process: asyncio.subprocess.Process | None = None
        # kept open for the process's whole life, closed by stop()
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="notifications-", suffix=".log", delete=False
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "waymark_cli", "serve", "notifications", "--port",
            str(self.port), env=self.environment, stdout=self.log, stderr=self.log,
        )
        async with httpx.AsyncClient(base_url=self.url) as client:
            for _ in range(READY_SECONDS * 10):
                if self.process.returncode is not None:
                    raise RuntimeError(f"notifications exited; see {self.log.name}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"notifications not ready; see {self.log.name}")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                await self.kill()
        self.log.close()
        os.unlink(self.log.name)


@dataclass
class Network:
    issuer: TestIssuer
    publisher: RabbitMqBroker
    hooks_base: str
    endpoints: dict[str, Endpoint]
    environment: dict[str, str]
    processes: list[NotificationsProcess] = field(default_factory=list)
    _client: httpx.AsyncClient | None = None  # the first process's, once one is started

    @property
    def client(self) -> httpx.AsyncClient:
        assert self._client is not None, "no process started yet"
        return self._client

    async def start(self, **settings: str) -> NotificationsProcess:
        """The service in its own process; settings as WAYMARK_* names without the prefix."""
        environment = {
            **self.environment, **{f"WAYMARK_{name.upper()}": v for name, v in settings.items()}
        }
        process = NotificationsProcess(environment, free_port())
        self.processes.append(process)  # stopped at the end even if it never became ready
        await process.start()
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=process.url, timeout=30)
        return process

    async def restart(self, process: NotificationsProcess) -> None:
        await process.start()

    def admin(self, organization_id: uuid.UUID) -> dict[str, str]:
        return self.issuer.headers(organization_id, "org_admin")

    def endpoint(self, organization_id: uuid.UUID, status: int = 200) -> Endpoint:
        path = uuid.uuid4().hex
        endpoint = Endpoint(organization_id, f"{self.hooks_base}/{path}", status)
        self.endpoints[path] = endpoint
        return endpoint

    async def subscribe(self, endpoint: Endpoint, *event_types: str) -> dict[str, Any]:
        response = await self.client.post(
            "/v1/subscriptions", headers=self.admin(endpoint.organization_id),
            json={"url": endpoint.url, "event_types": list(event_types)},
        )
        assert response.status_code == 201, response.text
        subscription: dict[str, Any] = response.json()
        endpoint.secret = subscription["secret"]
        return subscription

    async def publish(self, event_type: str, data: EventData) -> CloudEvent:
        event = CloudEvent.of("tests", event_type, data)
        await self.publisher.publish(event)
        return event


@pytest.fixture
async def network(database_url: str) -> AsyncIterator[Network]:
    issuer = TestIssuer()
    endpoints: dict[str, Endpoint] = {}

    async def jwks(_request: web.Request) -> web.Response:
        return web.json_response(await issuer.key_source())

    async def hook(request: web.Request) -> web.Response:
        endpoint = endpoints.get(request.match_info["path"])
        return web.Response(status=404) if endpoint is None else await endpoint.handle(request)

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", jwks)
    app.router.add_post("/hooks/{path}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    await web.SockSite(runner, listening).start()
    base = f"http://127.0.0.1:{listening.getsockname()[1]}"

    exchange, queue_prefix = unique_name("test.events"), unique_name("test")
    publisher = RabbitMqBroker(RABBITMQ_URL, exchange)
    await publisher.start()
    environment = {
        **os.environ, "WAYMARK_MODE": "distributed", "WAYMARK_NOTIFICATIONS_DATABASE_URL":
        database_url, "WAYMARK_BROKER_URL": RABBITMQ_URL, "WAYMARK_EVENT_EXCHANGE": exchange,
        "WAYMARK_QUEUE_PREFIX": queue_prefix, "WAYMARK_JWKS_URL": f"{base}/.well-known/jwks.json",
        "WAYMARK_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "WAYMARK_ADMIN_CLIENT_SECRET": "unused-by-notifications",
        "WAYMARK_WEBHOOK_ALLOW_INSECURE": "true", "WAYMARK_WEBHOOK_TIMEOUT_SECONDS": "2",
        "WAYMARK_WEBHOOK_RETRY_SCHEDULE": "0.05,0.1,0.2,0.3", "WAYMARK_LOG_LEVEL": "WARNING",
    }
    network = Network(issuer, publisher, f"{base}/hooks", endpoints, environment)
    try:
        yield network
    finally:
        if network._client is not None:
            await network._client.aclose()
        for process in network.processes:
            await process.stop()
        await publisher.close()
        await runner.cleanup()
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            queue = f"{queue_prefix}.notifications"
            await channel.queue_delete(queue)
            await channel.queue_delete(f"{queue}.dead")
            await channel.exchange_delete(exchange)
            await channel.exchange_delete(f"{exchange}.dlx")
