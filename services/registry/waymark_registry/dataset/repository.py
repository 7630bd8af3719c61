import uuid
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from waymark_kernel.db import insert_rows, pooled_driver, table_of
from waymark_registry.organizations.models import Organization
from waymark_registry.services import repository as services
from waymark_registry.services.models import (
    Service,
    ServiceFacet,
    ServiceLocation,
    ServiceTranslation,
)
from waymark_registry.services.repository import Listed

# The tables a bulk import fills, with the search's own (migration 0004).
IMPORTED_TABLES = (
    table_of(Organization).name, table_of(Service).name, table_of(ServiceLocation).name,
    table_of(ServiceTranslation).name, table_of(ServiceFacet).name,
    services.documents.name, services.search_rows.name, services.listing.name,
)
CHUNK = 1000  # ids per IN (...) list, well under the drivers' bound-parameter limits
T = TypeVar("T")


def chunks(values: list[T], size: int = CHUNK) -> Iterator[list[T]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


async def organizations_by_id(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Organization]:
    found = {}
    for chunk in chunks(list(ids)):
        query = select(Organization).where(col(Organization.id).in_(chunk))
        found.update({o.id: o for o in (await session.execute(query)).scalars()})
    return found


async def services_by_id(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Service]:
    found = {}
    for chunk in chunks(list(ids)):
        query = select(Service).where(col(Service.id).in_(chunk))
        found.update({s.id: s for s in (await session.execute(query)).scalars()})
    return found


async def services_of_source(session: AsyncSession, source: str) -> list[Service]:
    query = select(Service).where(col(Service.source) == source)
    return list((await session.execute(query)).scalars())


async def organization_keys(session: AsyncSession) -> list[tuple[uuid.UUID, str, str, str]]:
    """(id, country, lower-case name, type) of every organisation: what must stay unique."""
    query = select(
        col(Organization.id), col(Organization.country), func.lower(Organization.name),
        col(Organization.type),
    )
    return [tuple(row) for row in await session.execute(query)]


async def all_organizations(session: AsyncSession) -> list[Organization]:
    query = select(Organization).order_by(col(Organization.name), col(Organization.id))
    return list((await session.execute(query)).scalars())


async def all_services(session: AsyncSession) -> list[Listed]:
    query = services.listed_query().order_by(col(Service.name), col(Service.id))
    return [Listed(*row) for row in await session.execute(query)]


async def insert_organizations(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await insert_rows(session, table_of(Organization), rows)


async def insert_services(
    session: AsyncSession, services_rows: list[dict[str, Any]],
    translations: list[dict[str, Any]], facets: list[dict[str, Any]],
    documents: list[dict[str, Any]], locations: list[dict[str, Any]],
) -> None:
    """New services' rows of each table, in bulk."""
    await insert_rows(session, table_of(Service), services_rows)
    await insert_rows(session, table_of(ServiceTranslation), translations)
    await insert_rows(session, table_of(ServiceFacet), facets)
    await insert_rows(session, services.documents, documents)
    # Last: on PostgreSQL a place copies its service's search keys, made by the rows above.
    await insert_rows(session, table_of(ServiceLocation), locations)


async def vacuum_imported(engine: AsyncEngine) -> None:
    """PostgreSQL, once a bulk import has committed: the tables it wrote vacuumed, their pages
    marked all-visible, so that a radius search reads its places from the index alone (on the
    bench directory of 100,000 services 1.23 → 0.87 ms of the database's time a search, for
    0.3 s of vacuum) from the start rather than once autovacuum comes, if it is on."""
    if engine.dialect.name == "postgresql":
        async with pooled_driver(engine) as driver:
            await driver.execute(f"VACUUM {', '.join(IMPORTED_TABLES)}")


async def refresh_statistics(session: AsyncSession) -> None:
    """PostgreSQL: the planner's statistics of the imported tables, taken now, in the import's
    transaction (which they count as written). Until autovacuum takes them, which may be
    minutes later or never, searches were planned as for empty tables (a tenth as many a
    second, on the bench directory of 100,000 services)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text(f"ANALYZE {', '.join(IMPORTED_TABLES)}"))
