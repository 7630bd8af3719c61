import uuid
from typing import Any

import asyncpg
import pytest

from services.registry.tests.conftest import Registry
from waymark_kernel.auth import ORG_ADMIN, VIEWER

KATHMANDU = (27.7172, 85.324)


def place(city: str, latitude: float, longitude: float, country: str = "NP") -> dict[str, Any]:
    return {"city": city, "country": country, "latitude": latitude, "longitude": longitude}


POKHARA = place("Pokhara", 28.2096, 83.9856)  # 142.4 km from Kathmandu
BHARATPUR = place("Bharatpur", 27.6766, 84.4385)  # 87.3 km
BIRATNAGAR = place("Biratnagar", 26.4525, 87.2718)  # 238.7 km
BANGKOK = place("Bangkok", 13.7563, 100.5018, country="TH")  # 2209 km


@pytest.fixture
async def directory(registry: Registry) -> dict[str, Any]:
    """A small network: Nepalese and Thai providers, one without any location."""
    nepal = await registry.organization(name="Nepal provider", country="NP")
    thailand = await registry.organization(name="Thai provider", country="TH")
    services = {
        "clinic": await registry.service(
            nepal, name="Pokhara migrant clinic", categories=["health.primary_care"],
            languages=["ne"], populations=["all_migrants"], migration_stages=["origin"],
            locations=[POKHARA],
        ),
        "counselling": await registry.service(
            nepal, name="Chitwan counselling", description="Psychosocial COUNSELLING for returnees",
            categories=["mhpss.counselling"], languages=["ne", "hi"], populations=["returnees"],
            migration_stages=["return"], locations=[BHARATPUR], accepts_referrals=False,
        ),
        "legal": await registry.service(
            nepal, name="Biratnagar legal aid", categories=["legal.civil_documentation"],
            languages=["ne", "en"], populations=["victims_of_trafficking"],
            migration_stages=["origin", "return"], locations=[BIRATNAGAR],
        ),
        "hotline": await registry.service(
            nepal, name="National anti-trafficking hotline",
            categories=["protection.anti_trafficking"], languages=["ne", "en"],
            populations=["victims_of_trafficking"], migration_stages=["origin"],
            status="temporarily_closed",
        ),
        "bangkok": await registry.service(
            thailand, name="Bangkok domestic workers centre",
            categories=["livelihoods.labour_rights", "health"], languages=["th", "en", "ne"],
            populations=["migrant_domestic_workers"], migration_stages=["destination"],
            locations=[BANGKOK],
        ),
        "thai_phone": await registry.service(
            thailand, name="Thai helpline", categories=["protection"], languages=["th"],
            migration_stages=["destination"],
        ),
    }
    return {"nepal": nepal, "thailand": thailand, **{k: v["id"] for k, v in services.items()}}


async def search(registry: Registry, expect_status: int = 200, **params: Any) -> dict[str, Any]:
    response = await registry.client.get(
        "/v1/services", params=params, headers=registry.headers(uuid.uuid4(), VIEWER)
    )
    assert response.status_code == expect_status, response.text
    body: dict[str, Any] = response.json()
    return body


async def found(registry: Registry, directory: dict[str, Any], **params: Any) -> list[str]:
    """Names of the fixture's services a search returns, in order."""
    names = {value: key for key, value in directory.items() if isinstance(value, str)}
    return [names[item["id"]] for item in (await search(registry, **params))["items"]]


async def test_without_filters_everything_comes_by_name(
    registry: Registry, directory: dict[str, Any]
) -> None:
    assert await found(registry, directory) == [
        "bangkok", "legal", "counselling", "hotline", "clinic", "thai_phone",
    ]


async def test_q_matches_name_or_description_ignoring_case(
    registry: Registry, directory: dict[str, Any]
) -> None:
    assert await found(registry, directory, q="COUNSEL") == ["counselling"]
    assert await found(registry, directory, q="returnees") == ["counselling"]
    assert await found(registry, directory, q="bangkok domestic") == ["bangkok"]
    assert await found(registry, directory, q="_") == []


async def test_country_is_where_a_location_is_or_else_the_organisation(
    registry: Registry, directory: dict[str, Any]
) -> None:
    assert await found(registry, directory, country="TH") == ["bangkok", "thai_phone"]
    assert await found(registry, directory, country="NP") == [
        "legal", "counselling", "hotline", "clinic",
    ]
    assert await found(registry, directory, country="FR") == []


async def test_category_includes_its_sub_categories(
    registry: Registry, directory: dict[str, Any]
) -> None:
    assert await found(registry, directory, category="protection") == ["hotline", "thai_phone"]
    assert await found(registry, directory, category="health") == ["bangkok", "clinic"]
    assert await found(registry, directory, category="health.primary_care") == ["clinic"]
    assert await found(registry, directory, category=["legal", "mhpss"]) == [
        "legal", "counselling",
    ]


async def test_language_population_stage_referrals_organisation_and_status(
    registry: Registry, directory: dict[str, Any]
) -> None:
    assert await found(registry, directory, language="hi") == ["counselling"]
    # A service for all migrants serves every population.
    assert await found(registry, directory, population="victims_of_trafficking") == [
        "legal", "hotline", "clinic",
    ]
    assert await found(registry, directory, migration_stage="return") == ["legal", "counselling"]
    assert await found(registry, directory, accepts_referrals="false") == ["counselling"]
    assert await found(registry, directory, organization_id=directory["thailand"]["id"]) == [
        "bangkok", "thai_phone",
    ]
    assert await found(registry, directory, status="temporarily_closed") == ["hotline"]


async def test_filters_combine_with_and(registry: Registry, directory: dict[str, Any]) -> None:
    params = {
        "country": "NP", "language": "en", "population": "victims_of_trafficking",
        "migration_stage": "origin", "category": ["legal", "protection"],
    }
    assert await found(registry, directory, **params) == ["legal", "hotline"]
    assert await found(registry, directory, **params, status="active") == ["legal"]
    assert await found(registry, directory, **params, q="hotline", accepts_referrals=True) == [
        "hotline"
    ]


async def test_radius_search_orders_by_great_circle_distance(
    registry: Registry, directory: dict[str, Any]
) -> None:
    lat, lon = KATHMANDU
    page = await search(registry, lat=lat, lon=lon, radius_km=150)

    assert [item["name"] for item in page["items"]] == [
        "Chitwan counselling", "Pokhara migrant clinic",
    ]
    assert [item["distance_km"] for item in page["items"]] == [
        pytest.approx(87.3, abs=0.1), pytest.approx(142.4, abs=0.1),
    ]
    assert await found(registry, directory, lat=lat, lon=lon, radius_km=140) == ["counselling"]
    assert await found(registry, directory, lat=lat, lon=lon, radius_km=2300) == [
        "counselling", "clinic", "legal", "bangkok",
    ]
    assert await found(
        registry, directory, lat=lat, lon=lon, radius_km=2300, category="health"
    ) == ["clinic", "bangkok"]


async def test_what_and_where_follow_a_service_that_changes(any_registry: Registry) -> None:
    """A country with a category, and a radius with a category, find a service by what it is
    and where it is now, not by what it was."""
    registry = any_registry
    nepal = await registry.organization(country="NP")
    moving = await registry.service(nepal, categories=["health.primary_care"], locations=[POKHARA])
    in_kathmandu = dict(zip(("lat", "lon"), KATHMANDU, strict=True), radius_km=150)
    in_bangkok = {"lat": BANGKOK["latitude"], "lon": BANGKOK["longitude"], "radius_km": 10}

    async def ids(**params: Any) -> list[str]:
        return [item["id"] for item in (await search(registry, **params))["items"]]

    assert await ids(country="NP", category="health") == [moving["id"]]
    assert await ids(**in_kathmandu, category="health") == [moving["id"]]

    response = await registry.client.patch(
        f"/v1/services/{moving['id']}", headers=registry.headers(nepal["id"], ORG_ADMIN),
        json={"categories": ["shelter.safe_house"], "locations": [BANGKOK]},
    )
    assert response.status_code == 200, response.text

    assert await ids(country="NP", category="health") == []
    assert await ids(**in_kathmandu, category="health") == []
    assert await ids(**in_kathmandu, category="shelter") == []
    assert await ids(country="TH", category="health") == []
    assert await ids(country="TH", category="shelter") == [moving["id"]]
    assert await ids(country="TH", category="shelter.safe_house") == [moving["id"]]
    assert await ids(**in_bangkok, category="shelter") == [moving["id"]]
    assert await ids(**in_bangkok, category="health") == []


async def test_a_country_and_category_list_their_services_by_current_name(
    any_registry: Registry
) -> None:
    """Renamed, a service moves in the order of its country and category; withdrawn, it
    leaves it."""
    registry = any_registry
    nepal = await registry.organization(country="NP")
    admin = registry.headers(nepal["id"], ORG_ADMIN)
    beta = await registry.service(nepal, name="Beta shelter", categories=["shelter"])
    gamma = await registry.service(nepal, name="Gamma shelter", categories=["shelter"])

    async def names(**params: Any) -> list[str]:
        items = (await search(registry, country="NP", category="shelter", **params))["items"]
        return [item["name"] for item in items]

    assert await names() == ["Beta shelter", "Gamma shelter"]
    renamed = await registry.client.patch(
        f"/v1/services/{gamma['id']}", headers=admin, json={"name": "Alpha shelter"}
    )
    assert renamed.status_code == 200, renamed.text
    assert await names() == ["Alpha shelter", "Beta shelter"]
    assert await names(q="alpha") == ["Alpha shelter"]
    assert await names(q="gamma") == []

    withdrawn = await registry.client.delete(f"/v1/services/{beta['id']}", headers=admin)
    assert withdrawn.status_code == 204
    assert await names() == ["Alpha shelter"]


async def listing_is_that_of_the_search_rows(database_url: str) -> bool:
    """PostgreSQL: the listing holds exactly a row per key of each search row (migration 0011)."""
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        of_search_rows = (
            "SELECT key, name, service_id FROM registry_service_search, "
            "unnest(country_category_keys) key"
        )
        listing = "SELECT country_category, name, service_id FROM registry_service_listing"
        differing: int = await connection.fetchval(
            f"SELECT count(*) FROM (({of_search_rows} EXCEPT {listing}) "
            f"UNION ALL ({listing} EXCEPT {of_search_rows})) differing"
        )
        listed: int = await connection.fetchval("SELECT count(*) FROM registry_service_listing")
    finally:
        await connection.close()
    return differing == 0 and listed > 0


async def test_postgresql_the_listing_follows_every_way_a_service_changes(
    registry: Registry, database_url: str
) -> None:
    nepal = await registry.organization(country="NP")
    admin = registry.headers(nepal["id"], ORG_ADMIN)
    shelter = await registry.service(nepal, categories=["shelter"], locations=[POKHARA])
    clinic = await registry.service(nepal, categories=["health.primary_care"])
    assert await listing_is_that_of_the_search_rows(database_url)

    for service_id, change in ((shelter["id"], {"name": "Renamed shelter"}), (clinic["id"], {
        "categories": ["shelter.safe_house", "legal"], "locations": [BANGKOK, POKHARA],
    })):
        response = await registry.client.patch(
            f"/v1/services/{service_id}", headers=admin, json=change
        )
        assert response.status_code == 200, response.text
    assert await listing_is_that_of_the_search_rows(database_url)

    exported = await registry.client.get("/v1/hsds/dataset", headers=registry.network_admin)
    dataset = exported.json()
    for organization in dataset:
        for service in organization["services"]:
            service["name"] += " (imported)"
    imported = await registry.client.post(
        "/v1/hsds/dataset", json=dataset, headers=registry.network_admin
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["services"]["updated"] == 2
    assert await listing_is_that_of_the_search_rows(database_url)

    withdrawn = await registry.client.delete(f"/v1/services/{shelter['id']}", headers=admin)
    assert withdrawn.status_code == 204
    assert await listing_is_that_of_the_search_rows(database_url)
    assert [item["name"] for item in (await search(
        registry, country="TH", category="shelter"
    ))["items"]] == [f"{clinic['name']} (imported)"]


async def test_items_of_a_plain_search_carry_no_distance(
    registry: Registry, directory: dict[str, Any]
) -> None:
    page = await search(registry, q="clinic")

    assert page["items"][0]["distance_km"] is None


async def test_pages_follow_each_other_by_name_and_by_distance(
    registry: Registry, directory: dict[str, Any]
) -> None:
    async def walk(**params: Any) -> list[str]:
        names, cursor = [], None
        while True:
            if cursor:
                params["cursor"] = cursor
            page = await search(registry, limit=2, **params)
            names += [item["name"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return names

    everything = [item["name"] for item in (await search(registry))["items"]]
    assert await walk() == everything
    lat, lon = KATHMANDU
    assert await walk(lat=lat, lon=lon, radius_km=3000) == [
        "Chitwan counselling", "Pokhara migrant clinic", "Biratnagar legal aid",
        "Bangkok domestic workers centre",
    ]


async def test_a_cursor_of_one_ordering_is_refused_in_the_other(
    registry: Registry, directory: dict[str, Any]
) -> None:
    by_name = (await search(registry, limit=1))["next_cursor"]
    lat, lon = KATHMANDU

    problem = await search(registry, 400, lat=lat, lon=lon, radius_km=100, cursor=by_name)

    assert problem["type"].endswith("/invalid-cursor")


@pytest.mark.parametrize("params", [
    {"limit": 1000},
    {"limit": 0},
    {"country": "np"},
    {"country": "XX"},
    {"category": "dentistry"},
    {"language": "nepali"},
    {"population": "tourists"},
    {"migration_stage": "departure"},
    {"status": "open"},
    {"accepts_referrals": "maybe"},
    {"organization_id": "not-a-uuid"},
    {"lat": 27.7, "lon": 85.3},
    {"lat": 27.7, "radius_km": 10},
    {"radius_km": 10},
    {"lat": 97, "lon": 85.3, "radius_km": 10},
    {"lat": 27.7, "lon": 85.3, "radius_km": 0},
    {"lat": 27.7, "lon": 85.3, "radius_km": -5},
    {"lat": 27.7, "lon": 185.3, "radius_km": 10},
    {"lat": -90.5, "lon": 85.3, "radius_km": 10},
    {"q": "x" * 201},
])
async def test_bad_searches_are_422(registry: Registry, params: dict[str, Any]) -> None:
    problem = await search(registry, 422, **params)

    assert problem["type"].endswith("/validation-error")
    assert problem["errors"]


@pytest.mark.parametrize("cursor", ["not a cursor!", "bm90IGpzb24", "WzEsMiwzXQ==", "x" * 600])
async def test_malformed_cursors_are_refused(registry: Registry, cursor: str) -> None:
    response = await registry.client.get(
        "/v1/services", params={"cursor": cursor}, headers=registry.headers(uuid.uuid4(), VIEWER)
    )

    assert response.status_code in (400, 422)
    assert response.headers["content-type"] == "application/problem+json"
