"""Every query of the service directory, the search included.

Full text: one search document per service and language (the original and each translation).
PostgreSQL parses it with the language's text search configuration (migration 0002) into a
GIN-indexed tsvector; SQLite keeps it in an FTS5 table. Either way each word of a query matches
as a prefix, and a service matches when one of its documents holds every word."""

import math
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column, ColumnElement, Float, MetaData, String, Table, Uuid, case, delete, exists, func,
    insert, literal_column, or_, select, text,
)
from sqlalchemy import Text as TextType
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_registry.organizations.models import Organization
from waymark_registry.paging import after
from waymark_registry.services.models import (
    Service, ServiceFacet, ServiceLocation, ServiceTranslation,
)
from waymark_registry.services.schemas import ServiceSearch

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
# Service list field indexed for search, by facet name.
FACETS = {
    "category": "categories", "language": "languages", "population": "populations",
    "migration_stage": "migration_stages",
}
ALL_MIGRANTS = "all_migrants"
KM_PER_DEGREE_OF_LATITUDE = math.pi * EARTH_RADIUS_KM / 180
# A confidential location's public point is rounded to 0.1°: its owner's exact point lies within.
ROUNDING_MARGIN_DEGREES = 0.05
MAX_QUERY_WORDS = 20

# Not a model: on SQLite it is an FTS5 virtual table, on PostgreSQL it has a generated column.
documents = Table(
    "registry_service_documents", MetaData(),
    Column("service_id", Uuid()), Column("language", String(3)), Column("body", TextType()),
)


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
    query = listed_query().where(Service.id == service_id)
    row = (await session.execute(query)).first()
    return Listed(*row) if row else None


async def add(
    session: AsyncSession, service: Service, locations: list[ServiceLocation],
    translations: list[ServiceTranslation],
) -> None:
    session.add(service)
    await session.flush()  # the children reference it
    await replace_locations(session, service, locations)
    await replace_translations(session, service, translations)
    await refresh_index(session, service)


async def replace_translations(
    session: AsyncSession, service: Service, translations: list[ServiceTranslation]
) -> None:
    await session.execute(
        delete(ServiceTranslation).where(ServiceTranslation.service_id == service.id)
    )
    session.add_all(translations)
    await session.flush()


async def translations_of(
    session: AsyncSession, service_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[ServiceTranslation]]:
    query = (
        select(ServiceTranslation)
        .where(ServiceTranslation.service_id.in_(list(service_ids)))
        .order_by(ServiceTranslation.service_id, ServiceTranslation.field,
                  ServiceTranslation.language)
    )
    found: dict[uuid.UUID, list[ServiceTranslation]] = defaultdict(list)
    for translation in (await session.execute(query)).scalars():
        found[translation.service_id].append(translation)
    return found


async def refresh_index(session: AsyncSession, service: Service) -> None:
    """Rebuilds the service's search facets and text documents."""
    await refresh_facets(session, service)
    await session.execute(delete(documents).where(documents.c.service_id == service.id))
    translations = (await translations_of(session, [service.id]))[service.id]
    await session.execute(insert(documents), document_rows(service, translations))


async def add_many(
    session: AsyncSession, services: list[Service], locations: list[ServiceLocation],
    translations: list[ServiceTranslation], organization_countries: dict[uuid.UUID, str],
) -> None:
    """New services in bulk (an import), with their children and search index."""
    session.add_all(services)
    await session.flush()
    session.add_all([*locations, *translations])
    countries: dict[uuid.UUID, set[str]] = defaultdict(set)
    for location in locations:
        countries[location.service_id].add(location.country)
    session.add_all(
        row for service in services for row in facet_rows(
            service, countries[service.id] or {organization_countries[service.organization_id]}
        )
    )
    await session.flush()
    by_service: dict[uuid.UUID, list[ServiceTranslation]] = defaultdict(list)
    for translation in translations:
        by_service[translation.service_id].append(translation)
    rows = [row for s in services for row in document_rows(s, by_service[s.id])]
    if rows:
        await session.execute(insert(documents), rows)


def facet_rows(service: Service, countries: Iterable[str]) -> list[ServiceFacet]:
    """`countries`: where the service is found, those of its locations, else its
    organisation's."""
    return [
        ServiceFacet(service_id=service.id, facet=facet, value=value)
        for facet, field in FACETS.items() for value in getattr(service, field)
    ] + [ServiceFacet(service_id=service.id, facet="country", value=c) for c in countries]


def document_rows(
    service: Service, translations: list[ServiceTranslation]
) -> list[dict[str, Any]]:
    """One search document per language: the original, and each translation (a field not
    translated falls back to the original)."""
    translated: dict[str, dict[str, str]] = defaultdict(dict)
    for translation in translations:
        translated[translation.language][translation.field] = translation.text
    texts = {service.original_language or "": {}, **translated}
    return [
        {
            "service_id": service.id, "language": language,
            "body": _with_unaccented(" ".join(filter(None, (
                fields.get("name", service.name),
                fields.get("description", service.description),
            )))),
        }
        for language, fields in texts.items()
    ]


def _with_unaccented(body: str) -> str:
    """The text, and again without its accents when it has some, so that `hebergement`
    finds `hébergement` (people often type without accents)."""
    decomposed = unicodedata.normalize("NFKD", body)
    unaccented = "".join(c for c in decomposed if not 0x300 <= ord(c) <= 0x36F)
    unaccented = unicodedata.normalize("NFC", unaccented)
    return body if unaccented == body else f"{body} {unaccented}"


async def replace_locations(
    session: AsyncSession, service: Service, locations: list[ServiceLocation]
) -> None:
    await session.execute(delete(ServiceLocation).where(ServiceLocation.service_id == service.id))
    session.add_all(locations)
    await session.flush()


async def refresh_facets(session: AsyncSession, service: Service) -> None:
    await session.execute(delete(ServiceFacet).where(ServiceFacet.service_id == service.id))
    countries = await location_countries(session, service.id)
    if not countries:
        organization = await session.get(Organization, service.organization_id)
        countries = [organization.country]
    session.add_all(facet_rows(service, countries))
    await session.flush()


async def remove(session: AsyncSession, service: Service) -> None:
    await session.execute(delete(documents).where(documents.c.service_id == service.id))
    await session.delete(service)  # its other rows go with it (ON DELETE CASCADE)
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
    dialect = session.bind.dialect.name
    query = listed_query().where(*_conditions(dialect, filters, categories))
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


def listed_query():
    return select(Service, Organization.name, Organization.verified).join(
        Organization, Organization.id == Service.organization_id
    )


def _has_location() -> ColumnElement[bool]:
    return exists().where(ServiceLocation.service_id == Service.id)


def _has_facet(facet: str, values: Iterable[str]) -> ColumnElement[bool]:
    return Service.id.in_(select(ServiceFacet.service_id).where(
        ServiceFacet.facet == facet, ServiceFacet.value.in_(list(values)),
    ))


def query_words(q: str) -> list[str]:
    """Runs of letters, digits and marks (vowel signs of Devanagari or Thai are marks)."""
    kept = "".join(c if unicodedata.category(c)[0] in "LMN" else " " for c in q.lower())
    return kept.split()[:MAX_QUERY_WORDS]


def matches_text(dialect: str, words: list[str]) -> ColumnElement[bool]:
    if not words:
        return literal_column("1") == 0  # nothing to look for finds nothing
    if dialect == "postgresql":
        prefixes = " & ".join(f"'{word}':*" for word in words)  # words hold no quote
        matching = func.registry_any_language_query(prefixes)
        condition = literal_column("document").op("@@")(matching)
    else:
        prefixes = " ".join(f'"{word}"*' for word in words)
        condition = text("registry_service_documents MATCH :words").bindparams(words=prefixes)
    return Service.id.in_(select(documents.c.service_id).where(condition))


def _conditions(
    dialect: str, filters: ServiceSearch, categories: set[str]
) -> list[ColumnElement[bool]]:
    conditions = []
    if filters.q:
        conditions.append(matches_text(dialect, query_words(filters.q)))
    if filters.country:
        conditions.append(_has_facet("country", [filters.country]))
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
        .where(ServiceLocation.latitude.is_not(None), *_in_bounding_box(filters))
        .group_by(ServiceLocation.service_id)
        .subquery("nearest")
    )


def _in_bounding_box(filters: ServiceSearch) -> list[ColumnElement[bool]]:
    """Index-friendly bounds on the public point that hold every place within the radius."""
    margin = filters.radius_km / KM_PER_DEGREE_OF_LATITUDE + ROUNDING_MARGIN_DEGREES
    south, north = filters.lat - margin, filters.lat + margin
    latitude = ServiceLocation.public_latitude
    bounds = [latitude.between(south, north)]
    widest = max(abs(south), abs(north))
    if widest >= 89.9:
        return bounds  # the circle reaches a pole: every longitude
    lon_margin = margin / math.cos(math.radians(widest))
    if lon_margin >= 180:
        return bounds
    west, east = filters.lon - lon_margin, filters.lon + lon_margin
    longitude = ServiceLocation.public_longitude
    if west < -180:  # across the antimeridian
        bounds.append(or_(longitude >= west + 360, longitude <= east))
    elif east > 180:
        bounds.append(or_(longitude >= west, longitude <= east - 360))
    else:
        bounds.append(longitude.between(west, east))
    return bounds


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
