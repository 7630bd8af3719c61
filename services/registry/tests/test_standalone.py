"""Standalone mode: the same app on its own SQLite file, migrated at start-up."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from fastapi import FastAPI
from httpx import AsyncClient

from waymark_kernel.auth import NETWORK_ADMIN, ORG_ADMIN, VIEWER
from waymark_kernel.settings import RunMode, Settings
from waymark_kernel.testing import TestIssuer
from waymark_registry.main import create_app

NIGHT_SHELTER = {
    "name": "Night shelter",
    "categories": ["shelter.emergency"],
    "locations": [
        {"city": "Kathmandu", "country": "NP", "latitude": 27.7172, "longitude": 85.324}
    ],
}


async def test_create_and_read_on_sqlite(
    tmp_path: Path, serve_app: Callable[[FastAPI], AbstractAsyncContextManager[AsyncClient]]
) -> None:
    issuer = TestIssuer()
    settings = Settings(mode=RunMode.standalone, data_dir=tmp_path, seed_demo=False)
    app = create_app(settings, key_source=issuer.key_source)

    async with serve_app(app) as client:
        organization = (await client.post(
            "/v1/organizations", headers=issuer.headers(None, NETWORK_ADMIN),
            json={"name": "Kathmandu shelter network", "type": "cso", "country": "NP"},
        )).json()
        created = await client.post(
            "/v1/services", json=NIGHT_SHELTER,
            headers=issuer.headers(organization["id"], ORG_ADMIN),
        )
        reader = issuer.headers(organization["id"], VIEWER)
        fetched = await client.get(f"/v1/services/{created.json()['id']}", headers=reader)
        near_pokhara = await client.get("/v1/services", headers=reader, params={
            "lat": 28.2096, "lon": 83.9856, "radius_km": 150, "category": "shelter",
        })
        listed = await client.get("/v1/organizations", headers=reader, params={"q": "SHELTER"})

    assert (tmp_path / "registry.db").exists()
    assert created.status_code == 201
    assert fetched.status_code == 200
    assert fetched.json() == created.json()
    assert fetched.json()["created_at"].endswith("Z")
    assert [item["distance_km"] for item in near_pokhara.json()["items"]] == [142.4]
    assert [item["id"] for item in listed.json()["items"]] == [organization["id"]]
