"""On PostgreSQL a search is answered from indexes, never by reading a whole table: the plan of
the repository's own query, on a directory large enough for the planner to choose freely."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import pytest
from asyncpg.connection import LoggedQuery
from sqlalchemy import event, text
from sqlalchemy.engine import AdaptedConnection
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.db import Database, pooled_driver
from waymark_registry.services import repository
from waymark_registry.services.schemas import ServiceSearch
from waymark_registry.taxonomy.service import with_subcategories

SERVICES, ORGANIZATIONS = 20_000, 300
# Country: its centre; the services of each are spread over 4° × 4° around it.
COUNTRIES = {
    "NP": (27.7, 85.3), "TH": (13.75, 100.5), "JO": (31.95, 35.9), "MA": (33.57, -7.59),
    "EC": (-0.18, -78.47),
}
CATEGORIES = [
    "health", "health.primary_care", "shelter", "legal.information", "legal.representation",
    "food_cash", "education", "livelihoods", "mhpss", "protection.gbv", "protection",
    "rfl",
]
WORDS = ["amber", "birch", "cedar", "dune", "ember", "fjord", "grove", "heron", "iris", "jade"]

DIRECTORY = f"""
WITH countries (number, code, lat, lon) AS (VALUES {", ".join(
    f"({number}, '{code}', {lat}, {lon})" for number, (code, (lat, lon)) in
    enumerate(COUNTRIES.items())
)})
INSERT INTO registry_organizations
    (id, name, type, country, languages, identifiers, verified, created_at, updated_at)
SELECT md5('organization' || n)::uuid, 'Provider ' || n, 'cso', code, '[]', '[]', true,
    now(), now()
FROM generate_series(0, {ORGANIZATIONS - 1}) n JOIN countries ON number = n % {len(COUNTRIES)};

INSERT INTO registry_services
    (id, organization_id, name, description, categories, status, languages,
     interpretation_available, populations, migration_stages, free_of_charge,
     accepts_referrals, phones, schedules, original_language, last_verified_at, created_at,
     updated_at)
SELECT md5('service' || n)::uuid, md5('organization' || n % {ORGANIZATIONS})::uuid,
    words[n % 10 + 1] || ' ' || words[n / 10 % 10 + 1] || ' ' || n, words[n / 100 % 10 + 1],
    json_build_array(categories[n / 7 % {len(CATEGORIES)} + 1]), 'active', '["en"]', false, '[]',
    '[]', true, true, '[]', '[]', 'en', now(), now(), now()
FROM generate_series(0, {SERVICES - 1}) n,
    (SELECT ARRAY{WORDS} AS words, ARRAY{CATEGORIES} AS categories) lists;

WITH countries (number, code, lat, lon) AS (VALUES {", ".join(
    f"({number}, '{code}', {lat}, {lon})" for number, (code, (lat, lon)) in
    enumerate(COUNTRIES.items())
)}), places AS (
    SELECT n, code, lat + (n * 7919 % 4000) / 1000.0 - 2 AS lat,
        lon + (n::bigint * 104729 % 4000) / 1000.0 - 2 AS lon
    FROM generate_series(0, {SERVICES - 1}) n
    JOIN countries ON number = n % {ORGANIZATIONS} % {len(COUNTRIES)}
)
INSERT INTO registry_service_locations
    (id, service_id, position, city, country, latitude, longitude, public_latitude,
     public_longitude, confidential)
SELECT md5('place' || n)::uuid, md5('service' || n)::uuid, 0, 'Somewhere', code, lat, lon,
    lat, lon, false
FROM places;

INSERT INTO registry_service_facets (service_id, facet, value)
SELECT id, 'category', categories ->> 0 FROM registry_services
UNION ALL
SELECT service_id, 'country', country FROM registry_service_locations;

INSERT INTO registry_service_translations (service_id, field, language, text)
SELECT id, 'name', 'fr', 'Service ' || name FROM registry_services;

INSERT INTO registry_service_documents (service_id, language, body)
SELECT id, 'en', name || ' ' || description FROM registry_services
UNION ALL
SELECT service_id, language, text FROM registry_service_translations;

ANALYZE;
"""


@pytest.fixture
async def directory(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        async with database.transaction() as session:
            connection = await (await session.connection()).get_raw_connection()
            assert connection.driver_connection is not None
            await connection.driver_connection.execute(DIRECTORY)
        yield database
    finally:
        await database.dispose()


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


async def searched_with_plan(
    directory: Database, *, analyze: bool = False,
    position: tuple[Any, uuid.UUID] | None = None, **filters: Any,
) -> tuple[Sequence[Mapping[str, Any]], list[dict[str, Any]]]:
    """A page of the repository's search, and the plan of the very statement it ran (as it
    ran once more, when `analyze`)."""
    statements: list[tuple[str, tuple[Any, ...]]] = []

    def record(query: LoggedQuery) -> None:
        statements.append((query.query, query.args))

    def logged(dbapi_connection: AdaptedConnection, *_: object) -> None:
        dbapi_connection.driver_connection.add_query_logger(record)

    def unlogged(dbapi_connection: AdaptedConnection, *_: object) -> None:
        dbapi_connection.driver_connection.remove_query_logger(record)

    pool = directory.engine.sync_engine
    event.listen(pool, "checkout", logged)
    event.listen(pool, "checkin", unlogged)
    try:
        search = ServiceSearch(**filters)
        found = await repository.search(
            directory.reader, search, categories=with_subcategories(search.category),
            viewer_organization_id=uuid.uuid4(), limit=21, position=position,
        )
        await asyncio.sleep(0)  # the driver calls its loggers soon after, not at once
    finally:
        event.remove(pool, "checkout", logged)
        event.remove(pool, "checkin", unlogged)
    (statement, parameters), = statements
    async with pooled_driver(directory.reader) as driver:
        plan = await driver.fetchval(  # the driver decodes json
            f"EXPLAIN (ANALYZE {analyze}, FORMAT JSON) {statement}", *parameters
        )
    return found, list(plan_nodes(plan[0]["Plan"]))


def read_whole(nodes: list[dict[str, Any]]) -> set[str]:
    return {node["Relation Name"] for node in nodes if node["Node Type"] == "Seq Scan"}


def indexes_used(nodes: list[dict[str, Any]]) -> set[str]:
    return {node["Index Name"] for node in nodes if "Index Name" in node}


def tables_read(nodes: list[dict[str, Any]]) -> set[str]:
    return {node["Relation Name"] for node in nodes if "Relation Name" in node}


async def test_postgresql_the_search_rows_follow_the_facets_and_documents(
    directory: Database
) -> None:
    async with directory.transaction() as session:
        rows = await session.execute(text(
            "SELECT count(*), count(*) FILTER (WHERE cardinality(keys) = 2 "
            "AND document <> '') FROM registry_service_search"
        ))
        assert tuple(rows.one()) == (SERVICES, SERVICES)


async def test_postgresql_a_radius_search_reads_the_points_around_the_centre_only(
    directory: Database
) -> None:
    lat, lon = COUNTRIES["NP"]
    found, nodes = await searched_with_plan(
        directory, lat=lat, lon=lon, radius_km=40, category=["health"]
    )
    assert found
    assert all(hit["sort_key"] <= 40 for hit in found)
    assert [hit["sort_key"] for hit in found] == sorted(hit["sort_key"] for hit in found)
    assert "ix_registry_service_locations_public_point" in indexes_used(nodes)
    assert not read_whole(nodes)
    # The places carry their service's search keys: the category is tested on them.
    assert "registry_service_search" not in tables_read(nodes)


async def test_postgresql_a_text_search_with_filters_reads_the_index_of_the_search_rows(
    directory: Database
) -> None:
    """Of two categories in a country: there is no listing of both to walk."""
    found, nodes = await searched_with_plan(
        directory, q="cedar", category=["health", "shelter"], country="TH"
    )
    assert found
    assert all("cedar" in f"{hit['name']} {hit['description']}" for hit in found)
    assert "registry_service_listing" not in tables_read(nodes)
    assert [hit["name"] for hit in found] == sorted(hit["name"] for hit in found)
    assert "ix_registry_service_search_keys_document" in indexes_used(nodes)
    assert not read_whole(nodes)
    # What and where are one key: the country's and the category's are not intersected.
    conditions = " ".join(node.get("Index Cond", "") for node in nodes)
    assert "country_category_keys &&" in conditions
    assert "keys &&" not in conditions.replace(
        "country_category_keys &&", ""
    )


def ran(nodes: list[dict[str, Any]], index: str) -> bool:
    """Whether the analysed plan read `index` (a plan holds both branches of a walk)."""
    return any(node.get("Index Name") == index and node["Actual Loops"] for node in nodes)


async def by_brute_force(
    session: AsyncSession, word: str, country: str, category: str
) -> list[uuid.UUID]:
    """Ids of the services of `country` and `category` (or a sub-category) with a word starting
    with `word`, by name: what a walked search must find."""
    rows = await session.execute(text(
        "SELECT s.id FROM registry_services s WHERE (' ' || s.name || ' ' || s.description) "
        "LIKE '% ' || :word || '%' AND EXISTS (SELECT FROM registry_service_facets f WHERE "
        "f.service_id = s.id AND f.facet = 'country' AND f.value = :country) AND EXISTS ("
        "SELECT FROM registry_service_facets f WHERE f.service_id = s.id AND f.facet = "
        "'category' AND (f.value = :category OR f.value LIKE :category || '.%')) "
        "ORDER BY s.name, s.id"
    ), {"word": word, "country": country, "category": category})
    return list(rows.scalars())


async def test_postgresql_a_country_and_category_with_many_matches_read_the_front_of_their_listing(
    directory: Database,
) -> None:
    first, nodes = await searched_with_plan(
        directory, analyze=True, q="cedar", category=["health"], country="TH"
    )
    last = first[19]  # the page's last: 21 rows are one more than a page
    second, _ = await searched_with_plan(
        directory, position=(last["sort_key"], last["id"]), q="cedar", category=["health"],
        country="TH",
    )
    async with directory.transaction() as session:
        expected = await by_brute_force(session, "cedar", "TH", "health")
    assert [str(hit["id"]) for hit in [*first[:20], *second]] == [str(id_) for id_ in expected[:41]]
    assert ran(nodes, "registry_service_listing_pkey")
    assert not ran(nodes, "ix_registry_service_search_keys_document")
    walked = max(
        node["Actual Rows"] for node in nodes
        if node.get("Relation Name") == "registry_service_listing"
    )
    # Up to the page's last match, not the walk's whole length (nor all 600 listed).
    assert 21 <= walked < repository.WALKED_PER_ROW * 21


async def test_postgresql_a_country_and_category_with_rare_matches_read_the_index_after_a_walk(
    directory: Database,
) -> None:
    found, nodes = await searched_with_plan(
        directory, analyze=True, q="123", category=["health"], country="TH"
    )
    async with directory.transaction() as session:
        expected = await by_brute_force(session, "123", "TH", "health")
    assert 0 < len(expected) < 21
    assert [str(hit["id"]) for hit in found] == [str(id_) for id_ in expected]
    assert ran(nodes, "registry_service_listing_pkey")
    assert ran(nodes, "ix_registry_service_search_keys_document")
    assert not read_whole(nodes)
