"""The service directory. Confidential locations (shelters, safe houses) are shown in full only
to members of the owning organisation; everyone else, network admins included, sees just
their city, admin area and country."""

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, NamedTuple

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from waymark_kernel.api import position_after, split_page
from waymark_kernel.auth import Identity
from waymark_kernel.clock import as_utc, utcnow
from waymark_kernel.events import ServiceChanged, ServiceDeleted
from waymark_kernel.messaging import record_event
from waymark_kernel.problems import Forbidden, NotFound, Problem

from waymark_registry import EVENT_SOURCE
from waymark_registry.organizations import repository as organizations
from waymark_registry.organizations.models import Organization
from waymark_registry.paging import BY_DISTANCE, BY_NAME
from waymark_registry.services import repository
from waymark_registry.services.models import Service, ServiceLocation, ServiceTranslation
from waymark_registry.services.repository import SHOWN_LOCATION_COLUMNS
from waymark_registry.services.schemas import (
    Location, ServiceCreate, ServiceRead, ServiceSearch, ServiceUpdate, Translation,
)
from waymark_registry.taxonomy.service import with_subcategories

PUBLIC_DECIMALS = 1  # 0.1° ≈ 11 km: where a confidential location may be placed, city level
LOCATION_FIELDS = tuple(Location.model_fields)
STALE_AFTER = timedelta(days=180)
# Timestamps as the response models write them: RFC 3339 in UTC with `Z` (SQLite's are naive).
JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


class Translated(NamedTuple):
    field: str
    language: str
    text: str


def preferred_languages(accept_language: str | None) -> list[str]:
    """Primary language subtags of an Accept-Language header, most wanted first; `*` and
    malformed entries are ignored (the original is the fallback anyway)."""
    weighted = []
    for position, entry in enumerate((accept_language or "").split(",")[:20]):
        tag, _, parameters = entry.strip().partition(";")
        language = tag.strip().split("-")[0].lower()
        weight = 1.0
        if parameters.strip().startswith("q="):
            try:
                weight = float(parameters.strip()[2:])
            except ValueError:
                continue
        if language.isalpha() and 2 <= len(language) <= 3 and weight > 0:
            weighted.append((-weight, position, language))
    return [language for _, _, language in sorted(weighted)]


def is_stale(last_verified_at: datetime, now: datetime) -> bool:
    return now - as_utc(last_verified_at) >= STALE_AFTER


def location_values(
    service_id: uuid.UUID, locations: list[Location], ids: list[uuid.UUID] | None = None
) -> list[dict[str, Any]]:
    """The columns of each location's row; `ids` keeps the locations' ids (a bulk import),
    else they get new ones."""
    rows = []
    for position, location in enumerate(locations):
        public_latitude, public_longitude = location.latitude, location.longitude
        if location.confidential and location.latitude is not None:
            public_latitude = round(location.latitude, PUBLIC_DECIMALS)
            public_longitude = round(location.longitude, PUBLIC_DECIMALS)
        rows.append({
            "id": ids[position] if ids else uuid.uuid4(), "service_id": service_id,
            "position": position, **location.model_dump(),
            "public_latitude": public_latitude, "public_longitude": public_longitude,
        })
    return rows


def location_rows(
    service_id: uuid.UUID, locations: list[Location], ids: list[uuid.UUID] | None = None
) -> list[ServiceLocation]:
    return [ServiceLocation(**values) for values in location_values(service_id, locations, ids)]


def _shown_location(values: list[Any], to_owner: bool) -> dict[str, Any]:
    """`values`: those of SHOWN_LOCATION_COLUMNS."""
    location = dict(zip(SHOWN_LOCATION_COLUMNS, values, strict=True))
    del location["position"]
    location["confidential"] = bool(location["confidential"])  # SQLite's JSON has 0 or 1
    if location["confidential"] and not to_owner:
        location.update(name=None, address=None, latitude=None, longitude=None)
    return location


def translation_rows(
    service_id: uuid.UUID, translations: list[Translation]
) -> list[ServiceTranslation]:
    return [
        ServiceTranslation(service_id=service_id, **translation.model_dump())
        for translation in translations
    ]


def in_language(
    original: dict[str, str | None], original_language: str | None,
    translations: list[ServiceTranslation] | list[Translated], languages: list[str],
) -> dict[str, str | None]:
    """Name and description in the first wanted language the service has, else the `original`
    ones (written in `original_language`)."""
    for language in languages:
        if language == original_language:
            break
        texts = {t.field: t.text for t in translations if t.language == language}
        if texts:
            return {**original, **texts, "language": language}
    return {**original, "language": original_language}


def _shown(
    row: Mapping[str, Any], viewer: Identity, languages: list[str], now: datetime
) -> dict[str, Any]:
    """A service as every output shows it (a `ServiceRead`), from its shown row."""
    translations = sorted(map(Translated._make, orjson.loads(row["translations"] or "[]")))
    texts = in_language(
        {"name": row["name"], "description": row["description"]}, row["original_language"],
        translations, languages,
    )
    to_owner = viewer.belongs_to(row["organization_id"])
    return {
        "id": row["id"], "organization_id": row["organization_id"],
        "organization_name": row["organization_name"],
        "organization_verified": row["organization_verified"],
        "name": texts["name"], "description": texts["description"],
        "categories": orjson.loads(row["categories"]), "status": row["status"],
        "languages": orjson.loads(row["languages"]),
        "interpretation_available": row["interpretation_available"],
        "populations": orjson.loads(row["populations"]),
        "migration_stages": orjson.loads(row["migration_stages"]),
        "free_of_charge": row["free_of_charge"], "accepts_referrals": row["accepts_referrals"],
        "capacity": row["capacity"], "response_time_hours": row["response_time_hours"],
        "eligibility_description": row["eligibility_description"],
        "locations": [
            _shown_location(values, to_owner)
            for values in sorted(orjson.loads(row["locations"] or "[]"), key=itemgetter(0))
        ],
        "phones": orjson.loads(row["phones"]), "email": row["email"], "url": row["url"],
        "schedules": orjson.loads(row["schedules"]),
        "language": texts["language"], "original_language": row["original_language"],
        "translations": [translation._asdict() for translation in translations],
        "last_verified_at": row["last_verified_at"],
        "stale": is_stale(row["last_verified_at"], now),
        "created_at": row["created_at"], "updated_at": row["updated_at"],
    }


def changed_event(
    service_id: uuid.UUID, organization_id: uuid.UUID, fields: Service | ServiceCreate,
    countries: list[str],
) -> ServiceChanged:
    """`countries`: those of its locations, else its organisation's."""
    return ServiceChanged(
        service_id=service_id, organization_id=organization_id, status=fields.status,
        accepts_referrals=fields.accepts_referrals, countries=countries,
        categories=fields.categories, response_time_hours=fields.response_time_hours,
    )


async def announce(
    session: AsyncSession, event_type: str, service: Service, organization_country: str
) -> None:
    countries = await repository.location_countries(session, service.id)
    await record_event(session, EVENT_SOURCE, event_type, changed_event(
        service.id, service.organization_id, service, countries or [organization_country]
    ))


async def _owning_organization(session: AsyncSession, service: Service) -> Organization:
    organization = await organizations.get(session, service.organization_id)
    assert organization is not None  # the foreign key keeps it
    return organization


async def _writable(session: AsyncSession, identity: Identity, service_id: uuid.UUID) -> Service:
    service = await repository.get(session, service_id)
    if service is None:
        raise NotFound("service")
    if not identity.is_admin_of(service.organization_id):
        raise Forbidden("Only an org_admin of the owning organisation or a network_admin may "
                        "change its services.")
    return service


async def create_service(
    session: AsyncSession, identity: Identity, body: ServiceCreate, languages: list[str]
) -> ServiceRead:
    organization_id = body.organization_id or identity.organization_id
    if organization_id is None:
        raise Problem(422, "Give organization_id: this client belongs to no organisation.",
                      kind="organization-required")
    if not identity.is_admin_of(organization_id):
        raise Forbidden("Only an org_admin of the owning organisation or a network_admin may "
                        "publish its services.")
    organization = await organizations.get(session, organization_id)
    if organization is None:
        raise Problem(422, "No organisation with this organization_id is registered.",
                      kind="unknown-organization")
    now = utcnow()
    service = Service(
        **body.model_dump(
            mode="json", exclude={"organization_id", "locations", "translations"}
        ),
        organization_id=organization.id, last_verified_at=now, created_at=now, updated_at=now,
    )
    locations = location_rows(service.id, body.locations)
    translations = translation_rows(service.id, body.translations)
    await repository.add(session, service, locations, translations)
    await announce(session, "service.created", service, organization.country)
    return await get_service(session, identity, service.id, languages)


async def get_service(
    session: AsyncSession, identity: Identity, service_id: uuid.UUID, languages: list[str]
) -> ServiceRead:
    row = await repository.get_shown(session, service_id)
    if row is None:
        raise NotFound("service")
    return ServiceRead.model_validate(_shown(row, identity, languages, utcnow()))


def _as_given(rows: list, fields: tuple[str, ...]) -> list[dict]:
    return [{field: getattr(row, field) for field in fields} for row in rows]


async def update_service(
    session: AsyncSession, identity: Identity, service_id: uuid.UUID, body: ServiceUpdate,
    languages: list[str],
) -> ServiceRead:
    service = await _writable(session, identity, service_id)
    changes = body.model_dump(mode="json", exclude_unset=True)
    new_locations = changes.pop("locations", None)
    new_translations = changes.pop("translations", None)
    changes = {field: value for field, value in changes.items() if getattr(service, field) != value}
    if new_locations is not None:
        current = (await repository.locations_of(session, [service_id]))[service_id]
        if new_locations == _as_given(current, LOCATION_FIELDS):
            new_locations = None
    current_translations = (await repository.translations_of(session, [service_id]))[service_id]
    if new_translations is not None:
        translated = ("field", "language", "text")
        if sorted(new_translations, key=str) == sorted(
            _as_given(current_translations, translated), key=str
        ):
            new_translations = None
    original_language = changes.get("original_language", service.original_language)
    kept = _as_given(current_translations, ("language",))
    translation_languages = {
        t["language"] for t in (kept if new_translations is None else new_translations)
    }
    if original_language in translation_languages:
        raise Problem(422, "A translation is in another language than original_language.",
                      kind="translation-in-original-language")
    if changes or new_locations is not None or new_translations is not None:
        for field, value in changes.items():
            setattr(service, field, value)
        service.updated_at = utcnow()
        if new_locations is not None:
            await repository.replace_locations(
                session, service, location_rows(service.id, body.locations)
            )
        if new_translations is not None:
            await repository.replace_translations(
                session, service, translation_rows(service.id, body.translations)
            )
        await repository.refresh_index(session, service)
        organization = await _owning_organization(session, service)
        await announce(session, "service.updated", service, organization.country)
    return await get_service(session, identity, service_id, languages)


async def confirm_service(
    session: AsyncSession, identity: Identity, service_id: uuid.UUID, languages: list[str]
) -> ServiceRead:
    """The owner confirms the service's details are still true: it is no longer stale."""
    service = await _writable(session, identity, service_id)
    service.last_verified_at = utcnow()
    await session.flush()
    return await get_service(session, identity, service_id, languages)


async def delete_service(session: AsyncSession, identity: Identity, service_id: uuid.UUID) -> None:
    service = await _writable(session, identity, service_id)
    await record_event(session, EVENT_SOURCE, "service.deleted", ServiceDeleted(
        service_id=service.id, organization_id=service.organization_id,
    ))
    await repository.remove(session, service)


async def search_services(
    reader: AsyncEngine, identity: Identity, filters: ServiceSearch, languages: list[str]
) -> bytes:
    """The page as JSON (a `Page[ServiceHit]`), written once from the rows."""
    cursor_format = BY_DISTANCE if filters.near else BY_NAME
    position = position_after(filters.cursor, cursor_format)
    rows = await repository.search(
        reader, filters, categories=with_subcategories(filters.category),
        viewer_organization_id=identity.organization_id, limit=filters.limit + 1,
        position=position,
    )
    rows, next_cursor = split_page(rows, filters.limit, itemgetter("sort_key", "id"), cursor_format)
    now = utcnow()
    items = [
        {**_shown(row, identity, languages, now),
         "distance_km": round(row["sort_key"], 1) if filters.near else None}
        for row in rows
    ]
    return orjson.dumps(  # default: orjson does not know asyncpg's subclass of UUID
        {"items": items, "next_cursor": next_cursor}, default=str, option=JSON_OPTIONS
    )


async def announce_organization_moved(session: AsyncSession, organization: Organization) -> None:
    """A service without locations is placed in its organisation's country: tell that it moved."""
    for service in await repository.without_locations(session, organization.id):
        await repository.refresh_facets(session, service)
        await announce(session, "service.updated", service, organization.country)
