"""The registry app on a throw-away database (each test on SQLite and on PostgreSQL) with an
in-process broker, and an HSDS 3.0 publisher served on loopback."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select
from sqlmodel import col

from waymark_kernel.auth import NETWORK_ADMIN, ORG_ADMIN
from waymark_kernel.messaging import OutboxMessage
from waymark_kernel.messaging.inprocess import InProcessBroker
from waymark_kernel.settings import RunMode, Settings
from waymark_kernel.testing import (
    POSTGRES_URL,
    DatabaseCopies,
    TestIssuer,
    database_copies,
    drop_database,
    shared_database,
    unique_name,
)
from waymark_registry.main import MIGRATIONS, create_app


@dataclass
class Registry:
    """The running app, a client for it, and the helpers every test needs."""

    client: AsyncClient
    issuer: TestIssuer
    app: FastAPI

    def headers(self, organization_id: uuid.UUID | str | None, *roles: str) -> dict[str, str]:
        org = uuid.UUID(str(organization_id)) if organization_id else None
        return self.issuer.headers(org, *roles)

    @property
    def network_admin(self) -> dict[str, str]:
        return self.headers(None, NETWORK_ADMIN)

    async def organization(self, **fields: Any) -> dict[str, Any]:
        body = {"name": unique_name("Org"), "type": "cso", "country": "NP", **fields}
        response = await self.client.post(
            "/v1/organizations", json=body, headers=self.network_admin
        )
        assert response.status_code == 201, response.text
        organization: dict[str, Any] = response.json()
        return organization

    async def service(self, organization: dict[str, Any], **fields: Any) -> dict[str, Any]:
        body = {"name": unique_name("Service"), "categories": ["health"], **fields}
        response = await self.client.post(
            "/v1/services", json=body, headers=self.headers(organization["id"], ORG_ADMIN)
        )
        assert response.status_code == 201, response.text
        service: dict[str, Any] = response.json()
        return service

    async def outbox(self) -> list[tuple[str, dict[str, Any]]]:
        """(type, data) of every event recorded, oldest first."""
        async with self.app.state.database.transaction() as session:
            rows = await session.execute(
                select(OutboxMessage).order_by(col(OutboxMessage.created_at), col(OutboxMessage.id))
            )
            messages = rows.scalars().all()
        return [(message.event_type, json.loads(message.body)["data"]) for message in messages]


@pytest.fixture(scope="session")
def migrated_database(
    dialect: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseCopies]:
    """The registry's migrations, run once for each database in each worker process."""
    folder = tmp_path_factory.mktemp("registry")
    with (
        shared_database(dialect, "registry_migrated", folder, MIGRATIONS) as url,
        database_copies(url, "registry_test") as copies,
    ):
        yield copies


@pytest.fixture
async def database_url(
    migrated_database: DatabaseCopies, tmp_path: Path
) -> AsyncIterator[str]:
    """A database of the test's own, as the migrations leave it."""
    async with migrated_database.copy(tmp_path) as url:
        yield url


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """Runs the app's lifespan around a client that calls it in-process."""
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app), base_url="http://registry") as client,
    ):
        yield client


class RegistryCommand(Protocol):
    """`registry_command(folder, *arguments)`: runs `waymark registry *arguments` on `folder`."""

    def __call__(self, folder: Path, *arguments: str) -> subprocess.CompletedProcess[str]: ...


@pytest.fixture
def registry_command(dialect: str) -> Iterator[RegistryCommand]:
    """`waymark registry ...` on the registry database of a data folder: the folder's SQLite file
    (standalone), or a PostgreSQL database of the folder's own (distributed), dropped after."""
    prefixes: dict[Path, str] = {}

    def run(folder: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
        environment = {
            **os.environ, "WAYMARK_MODE": "standalone", "WAYMARK_DATA_DIR": str(folder),
            "WAYMARK_HSDS_SOURCE_ALLOW_INSECURE": "true",  # the tests' publishers are on loopback
        }
        if dialect == "postgresql":
            environment |= {
                "WAYMARK_MODE": "distributed",
                "WAYMARK_DATABASE_PREFIX": prefixes.setdefault(folder, unique_name("registry_command")),
            }
        return subprocess.run(
            [sys.executable, "-m", "waymark_cli.main", "registry", *arguments],
            check=False, env=environment, capture_output=True, text=True, timeout=60,
        )

    yield run
    for prefix in prefixes.values():
        asyncio.run(drop_database(f"{POSTGRES_URL}/{prefix}_registry"))


@pytest.fixture
def serve_app() -> Callable[[FastAPI], AbstractAsyncContextManager[AsyncClient]]:
    return serve


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Registry]:
    broker = InProcessBroker()
    await broker.start()
    issuer = TestIssuer()
    app = create_app(settings, broker=broker, key_source=issuer.key_source)
    try:
        async with serve(app) as client:
            yield Registry(client, issuer, app)
    finally:
        await broker.close()


class StartRegistry(Protocol):
    """`async with start_registry(**changed_settings) as registry:`"""

    def __call__(self, **changed: Any) -> AbstractAsyncContextManager[Registry]: ...


@pytest.fixture
def start_registry(database_url: str) -> StartRegistry:
    """Starts the registry on the test's database with these settings changed. Its loop of
    HSDS sources stays asleep unless a test asks: no source a test configures is called."""
    def start(**changed: Any) -> AbstractAsyncContextManager[Registry]:
        return running(Settings(**{
            "mode": "distributed", "registry_database_url": database_url,
            "event_exchange": unique_name("events"), "queue_prefix": unique_name("registry"),
            "hsds_sync_check_seconds": 3600, **changed,
        }))

    return start


@pytest.fixture
async def registry(start_registry: StartRegistry) -> AsyncIterator[Registry]:
    async with start_registry() as registry:
        yield registry


@pytest.fixture
async def sqlite_registry(tmp_path: Path) -> AsyncIterator[Registry]:
    """Standalone mode: SQLite (FTS5 text search), migrated at start-up."""
    async with running(Settings(mode=RunMode.standalone, data_dir=tmp_path, seed_demo=False)) as app:
        yield app


@pytest.fixture
def any_registry(registry: Registry) -> Registry:
    """The same as `registry`, which runs on each database."""
    return registry


# An HSDS 3.0 publisher on loopback, for `registry sync` and the scheduled sources.
PAGE_SIZE = 2  # the publisher's own, whatever the client asks: its pages must be followed
ORGANIZATION_ID = str(uuid.uuid4())


def published_service(name: str) -> dict[str, Any]:
    """A service as an HSDS 3.0 API lists it (full), in Leeds."""
    location_id = str(uuid.uuid4())
    return {
        "id": str(uuid.uuid4()), "organization_id": ORGANIZATION_ID, "name": name,
        "description": f"{name} for people arriving in Leeds.", "status": "active",
        "schedules": [{"id": str(uuid.uuid4()), "freq": "WEEKLY", "byday": "TU",
                       "opens_at": "09:30:00", "closes_at": "12:00:00"}],
        "service_at_locations": [{"id": str(uuid.uuid4()), "location": {
            "id": location_id, "location_type": "physical", "addresses": [{
                "id": str(uuid.uuid4()), "location_id": location_id, "address_1": "1 Park Row",
                "city": "Leeds", "state_province": "", "postal_code": "LS1 5HN",
                "country": "GB", "address_type": "physical",
            }],
        }}],
    }


class FakePublisher:
    """What the HSDS API lists now, and a page it fails on, if any."""

    def __init__(self) -> None:
        self.services = [published_service(name)
                         for name in ("Advice desk", "Food bank", "Clothes bank")]
        self.organizations = [{"id": ORGANIZATION_ID, "name": "Leeds Welcome", "description": ""}]
        self.failing_page: int | None = None
        self.pages_served: Counter[str] = Counter()  # by listing

    service = staticmethod(published_service)

    def page(self, path: str, number: int) -> dict[str, Any] | None:
        items = {"/services": self.services, "/organizations": self.organizations}.get(path)
        if items is None or number == self.failing_page:
            return None
        total_pages = max(1, -(-len(items) // PAGE_SIZE))
        contents = items[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]
        return {"total_items": len(items), "total_pages": total_pages, "page_number": number,
                "size": len(contents), "first_page": number == 1,
                "last_page": number >= total_pages, "empty": not items, "contents": contents}


@pytest.fixture
def publisher() -> Iterator[tuple[FakePublisher, str]]:
    published = FakePublisher()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name the standard library calls
            url = urlsplit(self.path)
            if url.path.startswith("/moved/"):  # the API's old address
                self.send_response(301)
                self.send_header("Location", self.path.replace("/moved/", "/hsds/", 1))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            number = int(parse_qs(url.query).get("page", ["1"])[0])
            listing = url.path.removeprefix("/hsds")
            page = published.page(listing, number)
            published.pages_served[listing] += 1
            body = json.dumps(page).encode()
            self.send_response(200 if page is not None else 500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield published, f"http://127.0.0.1:{server.server_address[1]}/hsds"
    finally:
        server.shutdown()
        server.server_close()
