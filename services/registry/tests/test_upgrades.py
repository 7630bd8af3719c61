"""Upgrades: a database at each earlier revision, holding what the service wrote (the rows of
a directory written through the API, as far as that revision's tables and columns hold them),
upgraded to the current revision, answers through the current API what the directory answered."""

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from services.registry.tests.conftest import Registry
from waymark_kernel.auth import ORG_ADMIN, VIEWER
from waymark_kernel.messaging.inprocess import InProcessBroker
from waymark_kernel.migrations import upgrade
from waymark_kernel.settings import RunMode, Settings
from waymark_kernel.testing import (
    TestIssuer,
    create_database,
    drop_database,
    revisions,
    table_rows,
    unique_name,
    write_rows_as_at_revision,
)
from waymark_registry.main import MIGRATIONS, create_app

EARLIER = revisions(MIGRATIONS)[:-1]


async def write_directory(registry: Registry) -> dict[str, Any]:
    owner = await registry.organization(
        name="Pravasi Nepali Coordination Committee",
        country="NP",
        languages=["ne", "en"],
        email="desk@example.org",
        identifiers=[{"identifier_type": "NP-SWC", "identifier": "12345"}],
    )
    await registry.client.patch(
        f"/v1/organizations/{owner['id']}", json={"verified": True}, headers=registry.network_admin
    )
    shelter = await registry.service(
        owner,
        name="Safe house for domestic workers",
        categories=["shelter"],
        languages=["ne"],
        populations=["migrant_domestic_workers"],
        migration_stages=["return"],
        locations=[
            {
                "name": "Shelter",
                "city": "Kathmandu",
                "country": "NP",
                "latitude": 27.71,
                "longitude": 85.32,
                "confidential": True,
            }
        ],
    )
    legal = await registry.service(
        owner,
        name="Legal aid for returnees",
        categories=["legal"],
        languages=["ne", "en"],
        migration_stages=["return"],
        accepts_referrals=True,
        capacity="limited",
        locations=[
            {
                "name": "Office",
                "city": "Pokhara",
                "country": "NP",
                "latitude": 28.21,
                "longitude": 83.99,
                "confidential": False,
            }
        ],
    )
    return {"owner": owner["id"], "services": [shelter["id"], legal["id"]]}


async def read_directory(
    client: AsyncClient, issuer: TestIssuer, written: dict[str, Any]
) -> dict[str, Any]:
    """What a partner and the owner read of the directory."""
    owner = issuer.headers(uuid.UUID(written["owner"]), ORG_ADMIN)
    stranger = issuer.headers(uuid.uuid4(), VIEWER)

    async def get(path: str, headers: dict[str, str]) -> Any:
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    def names(page: dict[str, Any]) -> list[str]:
        return sorted(item["name"] for item in page["items"])

    return {
        "organization": await get(f"/v1/organizations/{written['owner']}", stranger),
        "services as owner": [await get(f"/v1/services/{i}", owner) for i in written["services"]],
        "services as stranger": [
            await get(f"/v1/services/{i}", stranger) for i in written["services"]
        ],
        "text search": names(await get("/v1/services?q=legal%20aid", stranger)),
        "facet search": names(await get("/v1/services?country=NP&category=shelter", stranger)),
        "radius search": names(await get("/v1/services?lat=28.2&lon=84.0&radius_km=20", stranger)),
        "hsds": await get(f"/v1/hsds/services/{written['services'][1]}", stranger),
    }


def as_written_at(
    revision: str, rows: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """The rows the code of `revision` wrote: countries are search facets since 0003, which
    derives them from the locations."""
    if revision >= "0003":
        return rows
    facets = [row for row in rows["registry_service_facets"] if row["facet"] != "country"]
    return {**rows, "registry_service_facets": facets}


@pytest.mark.parametrize("revision", EARLIER)
async def test_a_directory_written_at_an_earlier_revision_reads_the_same_after_the_upgrade(
    registry: Registry, database_url: str,
    serve_app: Callable[[FastAPI], AbstractAsyncContextManager[AsyncClient]], revision: str,
) -> None:
    written = await write_directory(registry)
    expected = await read_directory(registry.client, registry.issuer, written)
    assert all(expected.values()), expected  # every search finds what it should
    rows = await table_rows(database_url)

    url = await create_database(f"registry_at_{revision}")
    try:
        await upgrade(url, MIGRATIONS, revision=revision)
        assert "registry_services" in await write_rows_as_at_revision(
            url, as_written_at(revision, rows), derived={"registry_service_listing"}
        )
        await upgrade(url, MIGRATIONS)
        settings = Settings(
            mode=RunMode.distributed,
            registry_database_url=url,
            event_exchange=unique_name("events"),
            queue_prefix=unique_name("registry"),
        )
        broker, issuer = InProcessBroker(), TestIssuer()
        await broker.start()
        app = create_app(settings, broker=broker, key_source=issuer.key_source)
        try:
            async with serve_app(app) as client:
                assert await read_directory(client, issuer, written) == expected
        finally:
            await broker.close()
    finally:
        await drop_database(url)
