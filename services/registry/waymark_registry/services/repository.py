"""Every query of the service directory, the search included (so that a full-text engine can
replace `_matches_text` without touching the rest)."""

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_registry.organizations.models import Organization
from waymark_registry.paging import after
from waymark_registry.services.models import Service, ServiceFacet, ServiceLocation
from waymark_registry.services.schemas import ServiceSearch

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
# Service list field indexed for search, by facet name.
FACETS = {
    "category": "categories", "language": "languages", "population": "populations",
    "migration_stage": "migration_stages",
}
ALL_MIGRANTS = "all_migrants"


@dataclass
class Listed:
    """A service as the directory shows it: with its organisation's standing and, in a radius
    search, its distance."""

    service: Service
    organization_name: str
    organization_verified: bool
    distance_km: float | None = None


async def get(session: AsyncSession, service_id: uuid.UUID) -> Service | None:
    return await session.get(Service, service_id)


async def get_listed(session: AsyncSession, service_id: uuid.UUID) -> Listed | None:
    query = _listed().where(Service.id == service_id)
    row = (await session.execute(query)).first()
    return Listed(*row) if row else None


async def add(session: AsyncSession, service: Service, locations: list[ServiceLocation]) -> None:
    session.add(service)
    await session.flush()  # the children reference it
    await replace_locations(session, service, locations)
    await refresh_facets(session, service)


async def replace_locations(
    session: AsyncSession, service: Service, locations: list[ServiceLocation]
) -> None:
    await session.execute(delete(ServiceLocation).where(ServiceLocation.service_id == service.id))
    session.add_all(locations)
    await session.flush()


async def refresh_facets(session: AsyncSession, service: Service) -> None:
    await session.execute(delete(ServiceFacet).where(ServiceFacet.service_id == service.id))
    session.add_all(
        ServiceFacet(service_id=service.id, facet=facet, value=value)
        for facet, field in FACETS.items() for value in getattr(service, field)
    )
    await session.flush()


async def remove(session: AsyncSession, service: Service) -> None:
    await session.delete(service)  # locations and facets go with it (ON DELETE CASCADE)
    await session.flush()


async def locations_of(
    session: AsyncSession, service_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[ServiceLocation]]:
    query = (
        select(ServiceLocation).where(ServiceLocation.service_id.in_(list(service_ids)))
        .order_by(ServiceLocation.service_id, ServiceLocation.position)
    )
    found: dict[uuid.UUID, list[ServiceLocation]] = defaultdict(list)
    for location in (await session.execute(query)).scalars():
        found[location.service_id].append(location)
    return found


async def location_countries(session: AsyncSession, service_id: uuid.UUID) -> list[str]:
    query = (
        select(ServiceLocation.country).where(ServiceLocation.service_id == service_id)
        .distinct().order_by(ServiceLocation.country)
    )
    return list((await session.execute(query)).scalars())


async def without_locations(session: AsyncSession, organization_id: uuid.UUID) -> list[Service]:
    query = select(Service).where(
        Service.organization_id == organization_id, ~_has_location()
    )
    return list((await session.execute(query)).scalars())


async def search(
    session: AsyncSession,
    filters: ServiceSearch,
    *,
    categories: set[str],
    viewer_organization_id: uuid.UUID | None,
    limit: int,
    position: tuple[Any, uuid.UUID] | None,
) -> list[Listed]:
    """One page: ordered by distance then id in a radius search, otherwise by name then id.

    `categories` are the wanted codes with their sub-categories already added."""
    query = _listed().where(*_conditions(filters, categories))
    if filters.near:
        nearest = _nearest_locations(filters, viewer_organization_id)
        sort_key = nearest.c.distance_km
        query = (
            query.add_columns(sort_key)
            .join(nearest, nearest.c.service_id == Service.id)
            .where(sort_key <= filters.radius_km)
        )
    else:
        sort_key = Service.name
    if position:
        query = query.where(after(sort_key, Service.id, position))
    rows = await session.execute(query.order_by(sort_key, Service.id).limit(limit))
    return [Listed(*row) for row in rows]


def _listed():
    return select(Service, Organization.name, Organization.verified).join(
        Organization, Organization.id == Service.organization_id
    )


def _has_location() -> ColumnElement[bool]:
    return exists().where(ServiceLocation.service_id == Service.id)


def _has_facet(facet: str, values: Iterable[str]) -> ColumnElement[bool]:
    return exists().where(
        ServiceFacet.service_id == Service.id, ServiceFacet.facet == facet,
        ServiceFacet.value.in_(list(values)),
    )


def _matches_text(q: str) -> ColumnElement[bool]:
    return or_(
        Service.name.icontains(q, autoescape=True),
        Service.description.icontains(q, autoescape=True),
    )


def _conditions(filters: ServiceSearch, categories: set[str]) -> list[ColumnElement[bool]]:
    conditions = []
    if filters.q:
        conditions.append(_matches_text(filters.q))
    if filters.country:
        in_country = exists().where(
            ServiceLocation.service_id == Service.id, ServiceLocation.country == filters.country
        )
        conditions.append(or_(
            in_country, and_(~_has_location(), Organization.country == filters.country)
        ))
    if categories:
        conditions.append(_has_facet("category", categories))
    if filters.language:
        conditions.append(_has_facet("language", [filters.language]))
    if filters.population:
        conditions.append(_has_facet("population", {filters.population, ALL_MIGRANTS}))
    if filters.migration_stage:
        conditions.append(_has_facet("migration_stage", [filters.migration_stage]))
    if filters.accepts_referrals is not None:
        conditions.append(Service.accepts_referrals == filters.accepts_referrals)
    if filters.organization_id:
        conditions.append(Service.organization_id == filters.organization_id)
    if filters.status:
        conditions.append(Service.status == filters.status)
    return conditions


def _nearest_locations(filters: ServiceSearch, viewer_organization_id: uuid.UUID | None):
    """Per service, the distance from the search centre to its nearest located place.

    Outside the owning organisation a confidential place counts at its rounded (0.1°, about
    11 km) public coordinates, so neither the distance nor the ordering pins it down."""
    latitude, longitude = ServiceLocation.public_latitude, ServiceLocation.public_longitude
    if viewer_organization_id is not None:
        own = Service.organization_id == viewer_organization_id
        latitude = case((own, ServiceLocation.latitude), else_=latitude)
        longitude = case((own, ServiceLocation.longitude), else_=longitude)
    distance = _great_circle_km(latitude, longitude, filters.lat, filters.lon)
    return (
        select(ServiceLocation.service_id, func.min(distance).label("distance_km"))
        .join(Service, Service.id == ServiceLocation.service_id)
        .where(ServiceLocation.latitude.is_not(None))
        .group_by(ServiceLocation.service_id)
        .subquery("nearest")
    )


def _great_circle_km(latitude: Any, longitude: Any, to_latitude: float, to_longitude: float):
    """Haversine distance in SQL (PostgreSQL, and SQLite's built-in math functions)."""
    def sql(name: str, *arguments: Any) -> Any:
        return getattr(func, name)(*arguments, type_=Float)

    sin_half_dlat = sql("sin", sql("radians", latitude - to_latitude) / 2)
    sin_half_dlon = sql("sin", sql("radians", longitude - to_longitude) / 2)
    haversine = (
        sin_half_dlat * sin_half_dlat
        + sql("cos", sql("radians", latitude)) * math.cos(math.radians(to_latitude))
        * sin_half_dlon * sin_half_dlon
    )
    bounded = case((haversine > 1.0, 1.0), else_=haversine)  # rounding can pass 1 at antipodes
    return 2 * EARTH_RADIUS_KM * sql("asin", sql("sqrt", bounded))
