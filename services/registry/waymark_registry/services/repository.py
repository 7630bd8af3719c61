"""Every query of the service directory, the search included.

Full text: one search document per service and language (the original and each translation).
PostgreSQL parses it with the language's text search configuration (migration 0002) into a
GIN-indexed tsvector, and a query's words in the configuration of every language the directory
has documents in (0007); SQLite keeps it in an FTS5 table. Either way each word of a query
matches as a prefix, and a service matches when one of its documents holds every word."""

import functools
import math
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON, Column, ColumnElement, Float, Integer, MetaData, RowMapping, String, Table, Uuid, and_,
    bindparam, case, cast, delete, exists, func, insert, literal_column, not_, or_, select, text,
    tuple_, union_all,
)
from sqlalchemy import Text as TextType
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from waymark_kernel.db import pooled_driver
from waymark_kernel.keyset import Keyset

from waymark_registry.organizations.models import Organization
from waymark_registry.services.models import (
    Service, ServiceFacet, ServiceLocation, ServiceTranslation,
)
from waymark_registry.services.schemas import LocationRead, ServiceSearch

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
# Service list field indexed for search, by facet name.
FACETS = {
    "category": "categories", "language": "languages", "population": "populations",
    "migration_stage": "migration_stages",
}
ALL_MIGRANTS = "all_migrants"
COUNTRY_CATEGORY = "country_category"
KM_PER_DEGREE_OF_LATITUDE = math.pi * EARTH_RADIUS_KM / 180
# A confidential location's public point is rounded to 0.1°: its owner's exact point lies within.
ROUNDING_MARGIN_DEGREES = 0.05
MAX_QUERY_WORDS = 20
# A search of one country and category walks this many of its listed services per row wanted
# before it looks in the index instead: the matches are too rare to be walked to.
WALKED_PER_ROW = 10

# Not models: on SQLite the documents are an FTS5 virtual table, on PostgreSQL they have a
# generated tsvector (`document`); the search rows exist on PostgreSQL only, kept by triggers
# from the facets and documents (migration 0004).
_tables = MetaData()
documents = Table(
    "registry_service_documents", _tables,
    Column("service_id", Uuid()), Column("language", String(3)), Column("body", TextType()),
    Column("document", TSVECTOR()),
)
search_rows = Table(
    "registry_service_search", _tables,
    Column("service_id", Uuid()), Column("name", String(200)), Column("keys", ARRAY(TextType())),
    Column("country_category_keys", ARRAY(TextType())), Column("document", TSVECTOR()),
)
# PostgreSQL: the places with a copy of their service's search keys (migration 0008), so that a
# radius search filters them without reading the search rows.
search_places = Table(
    "registry_service_locations", _tables,
    *(Column(name, Float()) for name in ("latitude", "longitude", "public_latitude",
                                         "public_longitude")),
    Column("service_id", Uuid()), Column("search_keys", ARRAY(TextType())),
)
# PostgreSQL: the services of each search row key of `country_category_keys`, in name order
# (migration 0011).
listing = Table(
    "registry_service_listing", _tables,
    Column("country_category", TextType()), Column("name", String(200)),
    Column("service_id", Uuid()),
)
# The search reads tables, not models: its rows are values, never loaded as objects.
service_table, organization_table = Service.__table__, Organization.__table__
location_table, translation_table = ServiceLocation.__table__, ServiceTranslation.__table__
facet_table = ServiceFacet.__table__
# A shown row's `locations`: the position, then these, of each location.
SHOWN_LOCATION_COLUMNS = ("position", *LocationRead.model_fields)


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


async def get_shown(session: AsyncSession, service_id: uuid.UUID) -> RowMapping | None:
    """The service as the directory shows it (see `_shown`)."""
    statement = _shown_one(session.bind.dialect.name)
    return (await session.execute(statement, {"service_id": service_id})).mappings().first()


@functools.lru_cache(maxsize=2)
def _shown_one(dialect: str):
    return _shown(dialect).where(service_table.c.id == bindparam("service_id", type_=Uuid))


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


# Built once: a statement built anew costs more CPU to key than a page of rows to load.
_TRANSLATIONS_OF = (
    select(ServiceTranslation)
    .where(ServiceTranslation.service_id.in_(bindparam("service_ids", expanding=True)))
    .order_by(ServiceTranslation.service_id, ServiceTranslation.field, ServiceTranslation.language)
)
_LOCATIONS_OF = (
    select(ServiceLocation)
    .where(ServiceLocation.service_id.in_(bindparam("service_ids", expanding=True)))
    .order_by(ServiceLocation.service_id, ServiceLocation.position)
)


async def translations_of(
    session: AsyncSession, service_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[ServiceTranslation]]:
    rows = await session.execute(_TRANSLATIONS_OF, {"service_ids": list(service_ids)})
    found: dict[uuid.UUID, list[ServiceTranslation]] = defaultdict(list)
    for translation in rows.scalars():
        found[translation.service_id].append(translation)
    return found


async def refresh_index(session: AsyncSession, service: Service) -> None:
    """Rebuilds the service's search facets and text documents."""
    await refresh_facets(session, service)
    await session.execute(delete(documents).where(documents.c.service_id == service.id))
    translations = (await translations_of(session, [service.id]))[service.id]
    await session.execute(insert(documents), document_rows(service, translations))


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
    rows = await session.execute(_LOCATIONS_OF, {"service_ids": list(service_ids)})
    found: dict[uuid.UUID, list[ServiceLocation]] = defaultdict(list)
    for location in rows.scalars():
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
    reader: AsyncEngine,
    filters: ServiceSearch,
    *,
    categories: set[str],
    viewer_organization_id: uuid.UUID | None,
    limit: int,
    position: tuple[Any, uuid.UUID] | None,
) -> Sequence[Mapping[str, Any]]:
    """One page of shown rows (see `_shown`) with their `sort_key`: the distance in a radius
    search, ordered by it then id, otherwise the name, ordered by it then id.

    `categories` are the wanted codes with their sub-categories already added. The page's ids
    are found first (on PostgreSQL from the search rows, the listing of a country and category,
    or the places, alone), then completed. `reader`: the statement takes a connection of its
    own, outside any transaction."""
    dialect = reader.dialect.name
    facets = _wanted_facets(filters, categories)
    if dialect == "postgresql":
        facets = _wanted_keys(filters, facets)
    words = query_words(filters.q) if filters.q else None
    boxes = _bounding_boxes(filters) if filters.near else []
    conditions = {
        name: value for name, value in (
            ("accepts_referrals", filters.accepts_referrals),
            ("organization_id", filters.organization_id), ("status", filters.status),
        ) if value is not None
    }
    walked = len(facets.get(COUNTRY_CATEGORY, ())) == 1
    shape = _Shape(
        dialect, tuple(facets), None if words is None else min(len(words), 2),
        tuple(conditions), filters.near, len(boxes), viewer_organization_id is not None,
        position is not None, walked,
    )
    values: dict[str, Any] = {"page_limit": limit, **conditions}
    if walked:
        values.update(listed_key=facets[COUNTRY_CATEGORY][0], walk_limit=WALKED_PER_ROW * limit)
    for facet, wanted in facets.items():
        values[f"facet_{facet}"] = wanted
    if words:
        values["words"] = _words_query(dialect, words)
    if filters.near:
        values.update(lat=filters.lat, lon=filters.lon, radius_km=filters.radius_km)
        if viewer_organization_id is not None:
            values["viewer"] = viewer_organization_id
        for number, box in enumerate(boxes):
            values.update(zip(_box_names(number), box, strict=True))
    if position:
        values.update(after_key=position[0], after_id=position[1])
    if dialect != "postgresql":
        async with reader.connect() as connection:
            return list((await connection.execute(_statement(shape), values)).mappings())
    statement, names, constants = _driver_statement(shape, reader.dialect)
    async with pooled_driver(reader) as driver:
        return await driver.fetch(statement, *({**constants, **values}[name] for name in names))


@dataclass(frozen=True)
class _Shape:
    """What the statement of a search depends on, its values aside. Building and keying a
    statement costs more CPU than the database takes to run it: each shape is built once."""

    dialect: str
    facets: tuple[str, ...]
    words: int | None  # no `q`; a `q` of 0, 1 or several (2) words
    conditions: tuple[str, ...]  # on the service's own columns
    near: bool
    boxes: int
    viewer: bool
    after: bool
    walked: bool  # PostgreSQL, one country and category and not near: its listing is walked


@functools.lru_cache(maxsize=512)
def _driver_statement(
    shape: _Shape, dialect: Dialect
) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """PostgreSQL: the search's text for the driver itself, the names of its parameters in their
    order, and the values of those SQLAlchemy made of constants. Through SQLAlchemy, a search
    cost twice the CPU the driver takes to run it and read its rows (its values are the
    driver's types already)."""
    compiled = _statement(shape).compile(dialect=dialect)
    return compiled.string, tuple(compiled.positiontup), compiled.params


@functools.lru_cache(maxsize=512)
def _statement(shape: _Shape):
    if shape.near:
        nearest = _nearest_locations(shape)
        page = _one_page(shape, select(nearest).where(
            nearest.c.sort_key <= bindparam("radius_km", type_=Float)
        ))
    elif shape.walked:
        page = _walked_else_indexed(shape)
    elif shape.dialect == "postgresql":
        page = _one_page(shape, _indexed(shape))
    else:
        source = select(
            service_table.c.id.label("service_id"), service_table.c.name.label("sort_key")
        )
        page = _one_page(shape, _filtered(shape, source, service_table.c.id))
    found = page.subquery("page")
    return (
        _shown(shape.dialect, found).add_columns(found.c.sort_key)
        .order_by(found.c.sort_key, found.c.service_id)
    )


def _one_page(shape: _Shape, matches):
    """`matches` (service_id, sort_key) after the cursor's position, in order, a page of them."""
    if shape.after:
        sort_type = Float if shape.near else String
        order = Keyset(matches.selected_columns.sort_key, matches.selected_columns.service_id)
        matches = matches.where(order.after(
            (bindparam("after_key", type_=sort_type), bindparam("after_id", type_=Uuid))
        ))
    return matches.order_by("sort_key", "service_id").limit(_page_limit())


def _page_limit():
    return bindparam("page_limit", type_=Integer)


def _indexed(shape: _Shape):
    """PostgreSQL: (service_id, sort_key) of the search rows matching the filters."""
    source = select(search_rows.c.service_id, search_rows.c.name.label("sort_key"))
    return _filtered(shape, source, search_rows.c.service_id)


def _walked_else_indexed(shape: _Shape):
    """PostgreSQL, one country and category: the page read off the front of their listing,
    whose first `walk_limit` services after the cursor's are tested one by one against the
    filters; when those hold too few matches to fill the page while the listing goes on, the
    page of the index instead. Each branch's condition is known before its rows are read:
    PostgreSQL runs only the branch that holds."""
    position = tuple_(listing.c.name, listing.c.service_id)
    walked = select(listing.c.service_id, listing.c.name).where(
        listing.c.country_category == bindparam("listed_key", type_=TextType)
    )
    if shape.after:
        walked = walked.where(position > tuple_(
            bindparam("after_key", type_=String), bindparam("after_id", type_=Uuid)
        ))
    walk_limit = bindparam("walk_limit", type_=Integer)
    # A subquery, not a CTE: its order is known to the query above, which stops at a page (the
    # count below walks it again only when the page is not full).
    walked = walked.order_by(*position.clauses).limit(walk_limit).subquery("walked")
    # A subquery per walked service, not a join: joined, the planner reads the index's matches.
    its_row_matches = _filtered(shape, select(literal_column("true")).where(
        search_rows.c.service_id == walked.c.service_id
    ), search_rows.c.service_id).scalar_subquery()
    matched = (
        select(walked.c.service_id, walked.c.name.label("sort_key")).where(its_row_matches)
        .order_by("sort_key", "service_id").limit(_page_limit()).cte("matched")
    )

    def count(rows) -> Any:
        return select(func.count()).select_from(rows).scalar_subquery()

    conclusive = or_(count(matched) == _page_limit(), count(walked) < walk_limit)
    return union_all(
        select(matched.c.service_id, matched.c.sort_key).where(conclusive),
        _one_page(shape, _indexed(shape)).where(not_(conclusive)),
    )


def _shown(dialect: str, chosen: Any = None):
    """Services as the directory shows them, one row each: their columns (those of JSON as
    text), their organisation's name and standing, their locations (the values of
    SHOWN_LOCATION_COLUMNS each) and translations (field, language, text each) as the text of
    JSON arrays. Those of the `chosen` subquery's service_id, else all."""
    located = select(_json_arrays(dialect, *(
        location_table.c[column] for column in SHOWN_LOCATION_COLUMNS
    ))).where(location_table.c.service_id == service_table.c.id)
    translated = select(_json_arrays(
        dialect, translation_table.c.field, translation_table.c.language, translation_table.c.text
    )).where(translation_table.c.service_id == service_table.c.id)
    query = select(
        *(_as_text(column) for column in service_table.c),
        organization_table.c.name.label("organization_name"),
        organization_table.c.verified.label("organization_verified"),
        located.scalar_subquery().label("locations"),
        translated.scalar_subquery().label("translations"),
    )
    if chosen is not None:
        query = query.join_from(chosen, service_table, service_table.c.id == chosen.c.service_id)
    return query.join(
        organization_table, organization_table.c.id == service_table.c.organization_id
    )


def _as_text(column: Column) -> Any:
    """A JSON column as its text (orjson reads it faster than the drivers' json module)."""
    return cast(column, TextType).label(column.name) if isinstance(column.type, JSON) else column


def _json_arrays(dialect: str, *values: Any):
    """The text of a JSON array holding an array of `values` per row (none when no row on
    PostgreSQL, `[]` on SQLite)."""
    if dialect == "postgresql":
        return cast(func.json_agg(func.json_build_array(*values)), TextType)
    return func.json_group_array(func.json_array(*values))


def _filtered(shape: _Shape, query, service_id: Any):
    """`query` (whose rows are of `service_id`) narrowed to the services matching the filters:
    on PostgreSQL by the service's search row (in a radius search by the place's copy of its
    keys, the search row read for words only), elsewhere by its facet and document rows."""
    if shape.dialect == "postgresql":
        on_places = service_id is search_places.c.service_id
        if shape.words is not None and on_places:
            query = query.join(search_rows, search_rows.c.service_id == service_id)
        keys = search_places.c.search_keys if on_places else search_rows.c["keys"]
        query = query.where(*(
            (search_rows.c.country_category_keys if facet == COUNTRY_CATEGORY else keys)
            .overlap(bindparam(f"facet_{facet}", type_=ARRAY(TextType())))
            for facet in shape.facets
        ))
        if shape.words is not None:
            query = query.where(_search_row_matches(shape.words, bindparam("words")))
    else:
        query = query.where(*(
            service_id.in_(_with_facet(facet, bindparam(f"facet_{facet}", expanding=True)))
            for facet in shape.facets
        ))
        if shape.words is not None:
            query = query.where(service_id.in_(_with_words(shape.words, bindparam("words"))))
    if shape.conditions:
        if service_id is not service_table.c.id:
            query = query.join(service_table, service_table.c.id == service_id)
        query = query.where(*(
            service_table.c[column] == bindparam(column) for column in shape.conditions
        ))
    return query


def listed_query():
    return select(Service, Organization.name, Organization.verified).join(
        Organization, Organization.id == Service.organization_id
    )


def _has_location() -> ColumnElement[bool]:
    return exists().where(ServiceLocation.service_id == Service.id)


def _with_facet(facet: str, values: Any):
    return select(facet_table.c.service_id).where(
        facet_table.c.facet == facet, facet_table.c.value.in_(values),
    )


def query_words(q: str) -> list[str]:
    """Runs of letters, digits and marks (vowel signs of Devanagari or Thai are marks)."""
    kept = "".join(c if unicodedata.category(c)[0] in "LMN" else " " for c in q.lower())
    return kept.split()[:MAX_QUERY_WORDS]


def matches_text(dialect: str, words: list[str]) -> ColumnElement[bool]:
    given = bindparam("words", _words_query(dialect, words) if words else "")
    if dialect == "postgresql":
        return Service.id.in_(select(search_rows.c.service_id).where(
            _search_row_matches(min(len(words), 2), given)
        ))
    return Service.id.in_(_with_words(min(len(words), 2), given))


def has_category(dialect: str, categories: Iterable[str]) -> ColumnElement[bool]:
    """The service has one of `categories`: on PostgreSQL by its search row's keys (the facets'
    index of values is SQLite's only, migration 0009)."""
    if dialect == "postgresql":
        return Service.id.in_(select(search_rows.c.service_id).where(search_rows.c["keys"].overlap(
            bindparam("categories", [_key("category", code) for code in categories],
                      type_=ARRAY(TextType()))
        )))
    return Service.id.in_(_with_facet("category", bindparam(
        "categories", list(categories), expanding=True
    )))


def _words_query(dialect: str, words: list[str]) -> str:
    """Every word as a prefix: a tsquery's text on PostgreSQL (words hold no quote), an FTS5
    query elsewhere."""
    if dialect == "postgresql":
        return " & ".join(f"'{word}':*" for word in words)
    return " ".join(f'"{word}"*' for word in words)


def _search_row_matches(words: int, query: Any) -> ColumnElement[bool]:
    """PostgreSQL: the search row holds every word; with several words, one document must
    hold them all (the search row merges the documents of every language)."""
    if not words:
        return literal_column("1") == 0  # nothing to look for finds nothing
    # Stemmed in the directory's languages (migration 0007), once per statement.
    wanted = select(func.registry_directory_language_query(query)).scalar_subquery()
    matched = search_rows.c.document.op("@@")(wanted)
    if words == 1:
        return matched
    in_one_document = exists().where(
        documents.c.service_id == search_rows.c.service_id, documents.c.document.op("@@")(wanted)
    )
    return and_(matched, in_one_document)


def _with_words(words: int, query: Any):
    """Elsewhere than PostgreSQL: the services with a document holding every word."""
    if not words:
        return select(documents.c.service_id).where(literal_column("1") == 0)
    condition = text("registry_service_documents MATCH :words").bindparams(query)
    return select(documents.c.service_id).where(condition)


def _wanted_facets(filters: ServiceSearch, categories: set[str]) -> dict[str, list[str]]:
    """Facet → the values of which a service must have one (filters not given left out)."""
    def given(value: str | None, *also: str) -> list[str]:
        return [value, *also] if value else []

    wanted = {
        "country": given(filters.country), "category": sorted(categories),
        "language": given(filters.language),
        "population": given(filters.population, ALL_MIGRANTS),
        "migration_stage": given(filters.migration_stage),
    }
    return {facet: values for facet, values in wanted.items() if values}


def _key(facet: str, value: str) -> str:
    """PostgreSQL: a search row's key of a facet's value (made by the triggers of 0004)."""
    return f"{facet}:{value}"


def _wanted_keys(filters: ServiceSearch, facets: dict[str, list[str]]) -> dict[str, list[str]]:
    """PostgreSQL: facet → the `facet:value` keys of which a search row (in a radius search, a
    place) must hold one. What and where together are one key of the search row's
    `country_category_keys` (migration 0008), which holds each code above the service's own:
    the codes asked for, not their sub-categories."""
    keys = {facet: [_key(facet, value) for value in values] for facet, values in facets.items()}
    if not filters.near and "country" in keys and "category" in keys:
        del keys["country"], keys["category"]
        keys[COUNTRY_CATEGORY] = [f"{filters.country}/{code}" for code in filters.category]
    return keys


def _nearest_locations(shape: _Shape):
    """(service_id, sort_key): per matching service, the distance from the search centre to
    its nearest located place.

    Outside the owning organisation a confidential place counts at its rounded (0.1°, about
    11 km) public coordinates, so neither the distance nor the ordering pins it down."""
    table = search_places if shape.dialect == "postgresql" else location_table
    places = table.c
    distance = _great_circle_km(places.public_latitude, places.public_longitude)
    if shape.viewer:
        own = places.service_id.in_(
            select(service_table.c.id)
            .where(service_table.c.organization_id == bindparam("viewer", type_=Uuid))
            .correlate(None)  # the services of the page's filters are other rows
        )
        exact = _great_circle_km(places.latitude, places.longitude)
        distance = case((own, exact), else_=distance)
    located = (
        select(places.service_id, func.min(distance).label("sort_key"))
        .where(places.latitude.is_not(None),
               or_(*(_in_box(table, shape.dialect, number) for number in range(shape.boxes))))
        .group_by(places.service_id)
    )
    return _filtered(shape, located, places.service_id).subquery("nearest")


def _box_names(number: int) -> tuple[str, str, str, str]:
    return tuple(f"box{number}_{side}" for side in ("south", "north", "west", "east"))


def _in_box(places: Table, dialect: str, number: int) -> ColumnElement[bool]:
    """The public point lies in the box (south, north, west, east): on PostgreSQL by the GiST
    index of the points, elsewhere by the index on latitude then longitude."""
    south, north, west, east = (bindparam(name, type_=Float) for name in _box_names(number))
    latitude, longitude = places.c.public_latitude, places.c.public_longitude
    if dialect == "postgresql":
        corners = func.box(func.point(west, south), func.point(east, north))
        return func.point(longitude, latitude).op("<@")(corners)
    return and_(latitude.between(south, north), longitude.between(west, east))


def _bounding_boxes(filters: ServiceSearch) -> list[tuple[float, float, float, float]]:
    """(south, north, west, east) boxes holding the public point of every place within the
    radius: two when the circle crosses the antimeridian."""
    margin = filters.radius_km / KM_PER_DEGREE_OF_LATITUDE + ROUNDING_MARGIN_DEGREES
    south, north = max(filters.lat - margin, -90.0), min(filters.lat + margin, 90.0)
    widest = max(abs(filters.lat - margin), abs(filters.lat + margin))
    if widest >= 89.9:
        return [(south, north, -180.0, 180.0)]  # the circle reaches a pole: every longitude
    lon_margin = margin / math.cos(math.radians(widest))
    if lon_margin >= 180:
        return [(south, north, -180.0, 180.0)]
    west, east = filters.lon - lon_margin, filters.lon + lon_margin
    if west < -180:
        return [(south, north, west + 360, 180.0), (south, north, -180.0, east)]
    if east > 180:
        return [(south, north, west, 180.0), (south, north, -180.0, east - 360)]
    return [(south, north, west, east)]


def _great_circle_km(latitude: Any, longitude: Any):
    """Haversine distance to the search centre (`lat`, `lon`) in SQL (PostgreSQL, and
    SQLite's built-in math functions)."""
    def sql(name: str, *arguments: Any) -> Any:
        return getattr(func, name)(*arguments, type_=Float)

    to_latitude, to_longitude = bindparam("lat", type_=Float), bindparam("lon", type_=Float)
    sin_half_dlat = sql("sin", sql("radians", latitude - to_latitude) / 2)
    sin_half_dlon = sql("sin", sql("radians", longitude - to_longitude) / 2)
    haversine = (
        sin_half_dlat * sin_half_dlat
        + sql("cos", sql("radians", latitude)) * sql("cos", sql("radians", to_latitude))
        * sin_half_dlon * sin_half_dlon
    )
    bounded = case((haversine > 1.0, 1.0), else_=haversine)  # rounding can pass 1 at antipodes
    return 2 * EARTH_RADIUS_KM * sql("asin", sql("sqrt", bounded))
