"""Fixtures: the service on a throw-away database (each test on SQLite and on PostgreSQL) with
the in-process broker, and webhook receivers served on loopback by aiohttp."""

import asyncio
import base64
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from aiohttp import web
from fastapi import FastAPI

from waymark_kernel.events import CloudEvent, EventData
from waymark_kernel.messaging.inprocess import InProcessBroker
from waymark_kernel.settings import Settings
from waymark_kernel.testing import (
    DatabaseCopies,
    TestIssuer,
    database_copies,
    shared_database,
    unique_name,
)
from waymark_notifications.main import MIGRATIONS, create_app

RETRY_SCHEDULE = [0.05, 0.1, 0.1, 0.1]
WAIT_SECONDS = 15


@dataclass
class Notifications:
    app: FastAPI
    client: httpx.AsyncClient
    broker: InProcessBroker
    issuer: TestIssuer

    def admin(self, organization_id: uuid.UUID) -> dict[str, str]:
        return self.issuer.headers(organization_id, "org_admin")

    async def subscribe(
        self, organization_id: uuid.UUID, url: str, *event_types: str
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/v1/subscriptions", headers=self.admin(organization_id),
            json={"url": url, "event_types": list(event_types), "description": "test receiver"},
        )
        assert response.status_code == 201, response.text
        subscription: dict[str, Any] = response.json()
        return subscription

    async def publish(self, event_type: str, data: EventData) -> CloudEvent:
        """Returns once the service's consumer has handled the event (in-process confirm)."""
        event = CloudEvent.of("tests", event_type, data)
        await self.broker.publish(event)
        return event

    async def attempts(self, subscription: dict[str, Any], count: int) -> list[dict[str, Any]]:
        """The delivery log once it holds `count` attempts (each is logged after its answer)."""
        async def logged() -> list[dict[str, Any]]:
            while True:
                response = await self.client.get(
                    f"/v1/subscriptions/{subscription['id']}/deliveries",
                    headers=self.admin(uuid.UUID(subscription["organization_id"])),
                )
                assert response.status_code == 200, response.text
                items: list[dict[str, Any]] = response.json()["items"]
                if len(items) >= count:
                    return items
                await asyncio.sleep(0.02)
        return await asyncio.wait_for(logged(), WAIT_SECONDS)


class StartNotifications(Protocol):
    """`await start_notifications(**changed_settings)`: the service, started."""

    def __call__(self, **overrides: Any) -> Awaitable[Notifications]: ...


@dataclass
class Receiver:
    """Answers with `statuses` in turn, then 200 (once `hold` is set, if given); records every
    request."""

    statuses: list[int] = field(default_factory=list)
    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived_at: list[float] = field(default_factory=list)  # the event loop's clock
    hold: asyncio.Event | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.arrived_at.append(asyncio.get_running_loop().time())
        self.received.append((dict(request.headers), await request.read()))
        self._arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200, text="ok")

    async def wait_for(self, count: int) -> list[tuple[dict[str, str], bytes]]:
        async def arrived() -> None:
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        await asyncio.wait_for(arrived(), WAIT_SECONDS)
        return self.received


class StartReceiver(Protocol):
    """`await receiver(500, 500)`: a new endpoint answering 500 twice, then 200."""

    def __call__(self, *statuses: int) -> Awaitable[Receiver]: ...


@pytest.fixture(scope="session")
def migrated_database(
    dialect: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseCopies]:
    """The notifications service's migrations, run once for each database in each worker process."""
    folder = tmp_path_factory.mktemp("notifications")
    with (
        shared_database(dialect, "notifications_migrated", folder, MIGRATIONS) as url,
        database_copies(url, "notifications_test") as copies,
    ):
        yield copies


@pytest.fixture
async def database_url(
    migrated_database: DatabaseCopies, tmp_path: Path
) -> AsyncIterator[str]:
    """A database of the test's own, as the migrations leave it."""
    async with migrated_database.copy(tmp_path) as url:
        yield url


@pytest.fixture
async def start_notifications(database_url: str) -> AsyncIterator[StartNotifications]:
    """Starts the service (settings overridable); all of it stops at the end of the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Notifications:
            settings = Settings(**{
                "mode": "distributed", "notifications_database_url": database_url,
                "event_exchange": unique_name("test.events"), "queue_prefix": unique_name("test"),
                "encryption_key": base64.b64encode(os.urandom(32)).decode(),
                "webhook_allow_insecure": True, "webhook_retry_schedule": RETRY_SCHEDULE,
                "webhook_timeout_seconds": 5, **overrides,
            })
            issuer = TestIssuer()
            broker = InProcessBroker()
            await broker.start()
            stack.push_async_callback(broker.close)
            app = create_app(settings, broker=broker, key_source=issuer.key_source)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://notifications"
            ))
            return Notifications(app, client, broker, issuer)

        yield start


@pytest.fixture
async def notifications(start_notifications: StartNotifications) -> Notifications:
    return await start_notifications()


@pytest.fixture
async def receiver() -> AsyncIterator[StartReceiver]:
    """`await receiver(500, 500)`: a new endpoint answering 500 twice, then 200."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(*statuses: int) -> Receiver:
            endpoint = Receiver(list(statuses))
            app = web.Application()
            app.router.add_post("/hooks", endpoint.handle)
            runner = web.AppRunner(app)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            listening = socket.socket()
            listening.bind(("127.0.0.1", 0))
            await web.SockSite(runner, listening).start()
            endpoint.url = f"http://127.0.0.1:{listening.getsockname()[1]}/hooks"
            return endpoint

        yield start
