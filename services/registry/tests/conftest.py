"""The registry app on a throw-away database (each test on SQLite and on PostgreSQL) with an
in-process broker."""

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select
from waymark_kernel.auth import NETWORK_ADMIN, ORG_ADMIN
from waymark_kernel.messaging import OutboxMessage
from waymark_kernel.messaging.inprocess import InProcessBroker
from waymark_kernel.migrations import upgrade
from waymark_kernel.settings import Settings
from waymark_kernel.testing import TestIssuer, throwaway_database, unique_name
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
        return response.json()

    async def service(self, organization: dict[str, Any], **fields: Any) -> dict[str, Any]:
        body = {"name": unique_name("Service"), "categories": ["health"], **fields}
        response = await self.client.post(
            "/v1/services", json=body, headers=self.headers(organization["id"], ORG_ADMIN)
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def outbox(self) -> list[tuple[str, dict[str, Any]]]:
        """(type, data) of every event recorded, oldest first."""
        async with self.app.state.database.transaction() as session:
            rows = await session.execute(
                select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)
            )
            messages = rows.scalars().all()
        return [(message.event_type, json.loads(message.body)["data"]) for message in messages]


@pytest.fixture
async def database_url(dialect: str, tmp_path: Path) -> AsyncIterator[str]:
    async with throwaway_database(dialect, "registry_test", tmp_path) as url:
        await upgrade(url, MIGRATIONS)
        yield url


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """Runs the app's lifespan around a client that calls it in-process."""
    async with app.router.lifespan_context(app):
        async with AsyncClient(transport=ASGITransport(app), base_url="http://registry") as client:
            yield client


@pytest.fixture
def serve_app():
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


@pytest.fixture
async def registry(database_url: str) -> AsyncIterator[Registry]:
    settings = Settings(
        mode="distributed", registry_database_url=database_url,
        event_exchange=unique_name("events"), queue_prefix=unique_name("registry"),
    )
    async with running(settings) as registry:
        yield registry


@pytest.fixture
async def sqlite_registry(tmp_path) -> AsyncIterator[Registry]:
    """Standalone mode: SQLite (FTS5 text search), migrated at start-up."""
    async with running(Settings(mode="standalone", data_dir=tmp_path, seed_demo=False)) as app:
        yield app


@pytest.fixture
def any_registry(registry: Registry) -> Registry:
    """The same as `registry`, which runs on each database."""
    return registry
