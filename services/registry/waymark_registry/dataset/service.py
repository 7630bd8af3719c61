"""Bulk export and import of the whole directory as an HSDS 3.0 JSON dataset: an array of
organizations (HSDS `organization_package`), each with its services fully nested, or as an
HSDS tabular data package (`tabular`), which is read back into that same form.

Import is all-or-nothing and idempotent by id: every object is checked first and every invalid
one is reported with its line (and file, in a package); only then are organisations and
services created or updated, each with its event (none when nothing changed). What the file
does not mention stays as it is. An export hides confidential locations like every other
output; importing it back keeps their details (same location id, no coordinates given).

On PostgreSQL new rows go in with COPY and the events in one statement, all in the caller's
transaction, so a large import stays all-or-nothing."""

import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.auth import NETWORK_ADMIN, Identity
from waymark_kernel.events import EventData, utcnow
from waymark_kernel.messaging import record_events
from waymark_kernel.problems import Conflict, Problem

from waymark_registry import EVENT_SOURCE
from waymark_registry.dataset import repository, tabular
from waymark_registry.dataset.located_json import JsonSyntaxError, LocatedJson
from waymark_registry.dataset.repository import chunks
from waymark_registry.dataset.schemas import ImportReport, InvalidRow
from waymark_registry.hsds.service import hsds_organization, hsds_service, hsds_taxonomy
from waymark_registry.organizations import service as organization_events
from waymark_registry.organizations.models import Organization
from waymark_registry.organizations.repository import NATIONAL_SOCIETY
from waymark_registry.organizations.schemas import OrganizationCreate
from waymark_registry.services import repository as services
from waymark_registry.services import service as service_events
from waymark_registry.services.models import (
    Service, ServiceFacet, ServiceLocation, ServiceTranslation,
)
from waymark_registry.services.schemas import Location, ServiceCreate
from waymark_registry.taxonomy.service import CODES, term_id

# Reads the directory as the network does: confidential locations stay hidden.
EXPORTER = Identity(subject="registry-export", organization_id=None,
                    roles=frozenset({NETWORK_ADMIN}))
STATUSES = {"temporarily closed": "temporarily_closed"}
CODES_BY_TERM_ID = {str(term_id(code)): code for code in CODES}
LOCATION_FIELDS = tuple(Location.model_fields)
CREATED_AT_ONCE = 5000  # new services per round of bulk inserts: bounds the rows held in memory
# Written services from which an import refreshes the planner's statistics (about 1 s for
# 100,000 services); after fewer, those of the tables before stay near enough.
ANALYZED_FROM = 1000
Event = tuple[str, EventData]


async def export_dataset(session: AsyncSession) -> list[dict[str, Any]]:
    by_organization: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for chunk in chunks(await repository.all_services(session)):
        ids = [row.service.id for row in chunk]
        locations = await services.locations_of(session, ids)
        translations = await services.translations_of(session, ids)
        for row in chunk:
            service = row.service
            exported = hsds_service(
                row, EXPORTER, [], translations=translations[service.id],
                locations=locations[service.id],
            )
            exported.pop("language", None)
            exported["original_language"] = service.original_language
            exported["translations"] = [
                {"field": t.field, "language": t.language, "text": t.text}
                for t in translations[service.id]
            ]
            by_organization[service.organization_id].append(exported)
    return [
        {**hsds_organization(organization, full=True), "services": by_organization[organization.id]}
        for organization in await repository.all_organizations(session)
    ]


Path = tuple[int | str, ...]


@dataclass
class _Parsed:
    path: Path
    id: uuid.UUID
    body: BaseModel
    last_verified: date | None = None
    location_ids: list[uuid.UUID] = field(default_factory=list)


def _shown(path: Path) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


# Where a field of the registry's schemas comes from in an HSDS object: a problem with it is
# reported at the line of that nested object (in a package, its row).
SOURCES: dict[str, Path] = {
    "locations": ("service_at_locations", "location"), "phones": ("phones",),
    "schedules": ("schedules",), "translations": ("translations",),
    "categories": ("attributes",), "languages": ("languages",),
    "identifiers": ("organization_identifiers",),
}
ADDRESS_FIELDS = {"address", "city", "admin_area", "country"}
Place = tuple[str | None, int]  # (file of a package, line)


def _source(where: tuple) -> Path:
    if len(where) < 2 or where[0] not in SOURCES or not isinstance(where[1], int):
        return ()
    key, *inner = SOURCES[where[0]]
    found = (key, where[1], *inner)
    if where[0] == "locations" and len(where) > 2 and where[2] in ADDRESS_FIELDS:
        found += ("addresses", 0)
    return found


class _Checker:
    """Collects every problem of a file instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[tuple[Path, str, Path]] = []
        self.ids: Counter[uuid.UUID] = Counter()

    def refuse(self, path: Path, reason: str, source: Path = ()) -> None:
        self.problems.append((path, reason, source))

    def identifier(self, item: dict, path: Path) -> uuid.UUID | None:
        try:
            identifier = uuid.UUID(str(item["id"]))
        except (KeyError, ValueError):
            self.refuse(path, "id: give the object's UUID")
            return None
        self.ids[identifier] += 1
        if self.ids[identifier] > 1:
            self.refuse(path, "id: given to more than one object")
        return identifier

    def validated(self, model: type[BaseModel], path: Path, fields: Any) -> Any:
        try:
            return model.model_validate(fields())
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"]) or "object"
                self.refuse(path, f"{where}: {error['msg']}", _source(error["loc"]))
        except (TypeError, AttributeError, KeyError, ValueError):
            self.refuse(path, "a field has an unexpected shape (see the HSDS 3.0 schema)")
        return None

    def report(self, dataset: Any, place_of: Callable[[Any], Place | None]) -> list[InvalidRow]:
        """Each problem at the place of the innermost object it is about."""
        rows = []
        for path, reason, source in self.problems:
            found, place = dataset, place_of(dataset) or (None, 1)
            for part in (*path, *source):
                try:
                    found = found[part]
                except (KeyError, IndexError, TypeError):
                    break  # the source is not there: the object itself is meant
                place = place_of(found) or place
            rows.append(InvalidRow(file=place[0], line=place[1], path=_shown(path), reason=reason))
        return rows


def _organization_fields(item: dict) -> dict[str, Any]:
    phones = item.get("phones") or []
    fields = {
        "name": item.get("name"), "type": item.get("type", "cso"), "country": item.get("country"),
        "description": item.get("description") or None, "website": item.get("website"),
        "email": item.get("email"), "phone": phones[0]["number"] if phones else None,
        "verified": item.get("verified", False),
        "identifiers": [
            {key: identifier.get(key) for key in
             ("identifier_scheme", "identifier_type", "identifier") if key in identifier}
            for identifier in item.get("organization_identifiers") or []
        ],
    }
    if "languages" in item:
        fields["languages"] = item["languages"]
    return fields


def _category(attribute: dict) -> str | None:
    term = attribute.get("taxonomy_term") or {}
    return term.get("code") or CODES_BY_TERM_ID.get(str(attribute.get("taxonomy_term_id")))


def _location(location: dict) -> dict[str, Any]:
    address = (location.get("addresses") or [{}])[0]
    return {
        "name": location.get("name"), "address": address.get("address_1") or None,
        "city": address.get("city") or None, "admin_area": address.get("state_province") or None,
        "country": address.get("country"), "latitude": location.get("latitude"),
        "longitude": location.get("longitude"),
        "confidential": location.get("confidential", False),
    }


def _service_fields(item: dict, organization_id: uuid.UUID) -> dict[str, Any]:
    categories = item.get("categories")
    if categories is None:
        categories = [_category(attribute) for attribute in item.get("attributes") or []]
    fields: dict[str, Any] = {
        "organization_id": str(organization_id), "name": item.get("name"),
        "description": item.get("description"), "categories": categories,
        "status": STATUSES.get(item.get("status"), item.get("status")),
        "languages": [language["code"] for language in item.get("languages") or []],
        "interpretation_available": item.get(
            "interpretation_available", bool(item.get("interpretation_services"))
        ),
        "locations": [_location(sal["location"]) for sal in item.get("service_at_locations") or []],
        "phones": [
            {key: phone[key] for key in ("number", "type", "description") if key in phone}
            | {"languages": [language["code"] for language in phone.get("languages") or []]}
            for phone in item.get("phones") or []
        ],
        "schedules": [
            {key: schedule[key] for key in ("opens_at", "closes_at", "description")
             if key in schedule}
            | {"byday": schedule["byday"].split(",") if schedule.get("byday") else []}
            for schedule in item.get("schedules") or []
        ],
    }
    for name in (
        "url", "email", "eligibility_description", "populations", "migration_stages",
        "free_of_charge", "accepts_referrals", "capacity", "response_time_hours",
        "original_language",
    ):
        if item.get(name) is not None:
            fields[name] = item[name]
    if item.get("translations") is not None:
        fields["translations"] = [
            {key: translation[key] for key in ("field", "language", "text") if key in translation}
            for translation in item["translations"]
        ]
    return fields


def _location_ids(item: dict) -> list[uuid.UUID]:
    ids = []
    for sal in item.get("service_at_locations") or []:
        try:
            ids.append(uuid.UUID(str(sal["location"]["id"])))
        except (KeyError, ValueError, TypeError):
            ids.append(uuid.uuid4())
    return ids


def _assured(checker: _Checker, item: dict, path: Path) -> date | None:
    if item.get("assured_date") is None:
        return None
    try:
        return date.fromisoformat(str(item["assured_date"]))
    except ValueError:
        checker.refuse(path, "assured_date: give a date as YYYY-MM-DD")
        return None


def _parse(checker: _Checker, dataset: Any) -> list[tuple[_Parsed, list[_Parsed]]]:
    if not isinstance(dataset, list):
        checker.refuse((), "give an array of HSDS organizations (organization_package)")
        return []
    parsed = []
    for index, item in enumerate(dataset):
        path: Path = (index,)
        if not isinstance(item, dict):
            checker.refuse(path, "an organization is a JSON object")
            continue
        organization_id = checker.identifier(item, path)
        organization = checker.validated(
            OrganizationCreate, path, lambda item=item: _organization_fields(item)
        )
        services_of = []
        listed = item.get("services") or []
        if not isinstance(listed, list):
            checker.refuse(path, "services: give an array")
            listed = []
        for position, service_item in enumerate(listed):
            service_path = (*path, "services", position)
            if not isinstance(service_item, dict):
                checker.refuse(path, f"services[{position}]: a service is a JSON object")
                continue
            service_id = checker.identifier(service_item, service_path)
            body = checker.validated(
                ServiceCreate, service_path,
                lambda s=service_item, o=organization_id: _service_fields(s, o or uuid.uuid4()),
            )
            assured = _assured(checker, service_item, service_path)
            if service_id and body:
                services_of.append(_Parsed(
                    service_path, service_id, body, assured, _location_ids(service_item)
                ))
        if organization_id and organization:
            parsed.append((_Parsed(path, organization_id, organization), services_of))
    return parsed


def _check_location_ids(checker: _Checker, parsed: list[tuple[_Parsed, list[_Parsed]]]) -> None:
    rows = [row for _, services_of in parsed for row in services_of]
    location_counts = Counter(i for row in rows for i in row.location_ids)
    for row in rows:
        if any(location_counts[i] > 1 for i in row.location_ids):
            checker.refuse(row.path, "a location id is given more than once")


async def _check_against_directory(
    session: AsyncSession, checker: _Checker, parsed: list[tuple[_Parsed, list[_Parsed]]],
    stored: dict[uuid.UUID, Service],
) -> None:
    for organization, services_of in parsed:
        for row in services_of:
            service = stored.get(row.id)
            if service is not None and service.organization_id != organization.id:
                checker.refuse(row.path, "id: this service belongs to another organisation")
    keys = {key[0]: key[1:] for key in await repository.organization_keys(session)}
    for organization, _ in parsed:
        body = organization.body
        keys[organization.id] = (body.country, body.name.lower(), body.type)
    names = Counter((country, name) for country, name, _ in keys.values())
    societies = Counter(country for country, _, kind in keys.values() if kind == NATIONAL_SOCIETY)
    for organization, _ in parsed:
        country, name, kind = keys[organization.id]
        if names[(country, name)] > 1:
            checker.refuse(organization.path, "name: another organisation of this country has "
                           "this name")
        if kind == NATIONAL_SOCIETY and societies[country] > 1:
            checker.refuse(organization.path, "type: another National Society is registered "
                           "for this country")


async def import_dataset(session: AsyncSession, text: str) -> ImportReport:
    try:
        dataset = json.loads(text)
    except (ValueError, RecursionError):
        try:
            LocatedJson(text).parse()  # to tell the line
        except JsonSyntaxError as exc:
            raise _invalid([InvalidRow(line=exc.line, path="", reason=exc.reason)]) from exc
        raise _invalid([InvalidRow(line=1, path="", reason="not valid JSON")]) from None

    def located() -> tuple[Any, Callable[[Any], Place | None]]:
        document = LocatedJson(text)  # parsed again only when there are problems to place
        parsed = document.parse()
        return parsed, lambda item: (None, line) if (line := document.line_of(item)) else None

    return await _import(session, dataset, located)


async def import_package(session: AsyncSession, files: dict[str, bytes]) -> ImportReport:
    """An HSDS tabular data package (file name → content), checked as its JSON form."""
    rows = tabular.Rows()
    dataset = rows.read(files)
    if rows.errors:
        raise _invalid(rows.errors)
    return await _import(session, dataset, lambda: (dataset, rows.place_of))


async def export_package(session: AsyncSession) -> dict[str, bytes]:
    return tabular.package(await export_dataset(session), hsds_taxonomy())


async def _import(
    session: AsyncSession, dataset: Any,
    located: Callable[[], tuple[Any, Callable[[Any], Place | None]]],
) -> ImportReport:
    checker = _Checker()
    parsed = _parse(checker, dataset)
    _check_location_ids(checker, parsed)
    service_ids = [row.id for _, services_of in parsed for row in services_of]
    stored_services = await repository.services_by_id(session, service_ids)
    await _check_against_directory(session, checker, parsed, stored_services)
    if checker.problems:
        raise _invalid(checker.report(*located()))
    report, events = ImportReport(), []
    stored_organizations = await repository.organizations_by_id(
        session, [organization.id for organization, _ in parsed]
    )
    try:
        owners = await _save_organizations(session, parsed, stored_organizations, report, events)
        rows = [
            (owner, row) for (_, services_of), owner in zip(parsed, owners, strict=True)
            for row in services_of
        ]
        new = [(owner, row) for owner, row in rows if row.id not in stored_services]
        for chunk in chunks(new, CREATED_AT_ONCE):
            await _create_services(session, chunk, events)
        report.services.created = len(new)
        changed = [(owner, row) for owner, row in rows if row.id in stored_services]
        for chunk in chunks(changed):
            await _update_services(session, chunk, stored_services, report, events)
    except IntegrityError as exc:
        raise Conflict("The file clashes with the directory (a location id is used by another "
                       "service); nothing was imported.") from exc
    await record_events(session, EVENT_SOURCE, events)
    if report.services.created + report.services.updated >= ANALYZED_FROM:
        await repository.refresh_statistics(session)
    return report


def _invalid(errors: list[InvalidRow]) -> Problem:
    errors = sorted(errors, key=lambda error: (error.file or "", error.line, error.path))
    return Problem(
        422, f"{len(errors)} problem(s) in the file; nothing was imported.",
        kind="invalid-dataset", extra={"errors": [error.model_dump() for error in errors]},
    )


class _Owner(NamedTuple):
    id: uuid.UUID
    country: str


async def _save_organizations(
    session: AsyncSession, parsed: list[tuple[_Parsed, list[_Parsed]]],
    stored: dict[uuid.UUID, Organization], report: ImportReport, events: list[Event],
) -> list[_Owner]:
    now = utcnow()
    owners, created, updated, moved = [], [], [], []
    for row, _ in parsed:
        values = row.body.model_dump(mode="json")
        organization = stored.get(row.id)
        if organization is None:
            created.append({"id": row.id, **values, "created_at": now, "updated_at": now})
            events.append(("organization.created", organization_events.changed_event(
                row.id, row.body
            )))
        else:
            changes = {k: v for k, v in values.items() if getattr(organization, k) != v}
            if changes:
                for key, value in changes.items():
                    setattr(organization, key, value)
                organization.updated_at = now
                updated.append(organization)
                events.append(("organization.updated", organization_events.changed_event(
                    organization.id, organization
                )))
                if "country" in changes:
                    moved.append(organization)
        owners.append(_Owner(row.id, row.body.country))
    await repository.insert_rows(session, Organization.__table__, created)
    for organization in moved:
        await service_events.announce_organization_moved(session, organization)
    report.organizations.created = len(created)
    report.organizations.updated = len(updated)
    report.organizations.unchanged = len(owners) - len(created) - len(updated)
    return owners


def _verified_at(row: _Parsed, now: datetime) -> datetime:
    if row.last_verified is None:
        return now
    return datetime.combine(row.last_verified, datetime.min.time(), tzinfo=UTC)


def _with_kept_secrets(row: _Parsed, stored_locations: list) -> list[Location]:
    """A confidential location given without its details (as exported) keeps the stored ones."""
    stored = {location.id: location for location in stored_locations if location.confidential}
    kept = []
    for location, location_id in zip(row.body.locations, row.location_ids, strict=True):
        original = stored.get(location_id)
        bare = location.latitude is None and location.name is None and location.address is None
        if location.confidential and bare and original is not None:
            location = Location(**{f: getattr(original, f) for f in LOCATION_FIELDS})
        kept.append(location)
    return kept


def _service_values(body: ServiceCreate) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude={"organization_id", "locations", "translations"})


def _countries(locations: list[Location], owner: _Owner) -> list[str]:
    """Where a service is found: its locations' countries, else its organisation's."""
    return sorted({location.country for location in locations}) or [owner.country]


class _Texts(NamedTuple):
    """What the search documents of a new service are made of."""

    id: uuid.UUID
    name: str
    description: str | None
    original_language: str | None


async def _create_services(
    session: AsyncSession, rows: list[tuple[_Owner, _Parsed]], events: list[Event]
) -> None:
    now = utcnow()
    created, locations, translations, facets, documents = [], [], [], [], []
    for owner, row in rows:
        body: ServiceCreate = row.body
        created.append({
            "id": row.id, **_service_values(body), "organization_id": owner.id,
            "last_verified_at": _verified_at(row, now), "created_at": now, "updated_at": now,
        })
        locations += service_events.location_values(row.id, body.locations, row.location_ids)
        translations += [
            {"service_id": row.id, **translation.model_dump()} for translation in body.translations
        ]
        countries = _countries(body.locations, owner)
        facets += [
            {"service_id": row.id, "facet": facet, "value": value}
            for facet, field in (*services.FACETS.items(), ("country", None))
            for value in (countries if field is None else getattr(body, field))
        ]
        texts = _Texts(row.id, body.name, body.description, body.original_language)
        documents += services.document_rows(texts, body.translations)
        events.append(("service.created", service_events.changed_event(
            row.id, owner.id, body, countries
        )))
    await repository.insert_rows(session, Service.__table__, created)
    await repository.insert_rows(session, ServiceTranslation.__table__, translations)
    await repository.insert_rows(session, ServiceFacet.__table__, facets)
    await repository.insert_rows(session, services.documents, documents)
    # Last: on PostgreSQL a place copies its service's search keys, made by the rows above.
    await repository.insert_rows(session, ServiceLocation.__table__, locations)


async def _update_services(
    session: AsyncSession, rows: list[tuple[_Owner, _Parsed]],
    stored_services: dict[uuid.UUID, Service], report: ImportReport, events: list[Event],
) -> None:
    existing = [row.id for _, row in rows]
    stored_locations = await services.locations_of(session, existing)
    stored_translations = await services.translations_of(session, existing)
    for location in (loc for found in stored_locations.values() for loc in found):
        session.expunge(location)  # rows of the same ids may replace them
    now = utcnow()
    for owner, row in rows:
        body: ServiceCreate = row.body
        service = stored_services[row.id]
        locations = _with_kept_secrets(row, stored_locations[row.id])
        values = _service_values(body)
        changes = {key: value for key, value in values.items() if getattr(service, key) != value}
        if row.last_verified and row.last_verified != service.last_verified_at.date():
            changes["last_verified_at"] = _verified_at(row, now)
        current = stored_locations[row.id]
        locations_changed = (
            [location.model_dump() for location in locations]
            != [{f: getattr(location, f) for f in LOCATION_FIELDS} for location in current]
            or row.location_ids != [location.id for location in current]
        )
        translations_changed = sorted(
            (t.field, t.language, t.text) for t in body.translations
        ) != [(t.field, t.language, t.text) for t in stored_translations[row.id]]
        if not (changes or locations_changed or translations_changed):
            report.services.unchanged += 1
            continue
        for key, value in changes.items():
            setattr(service, key, value)
        service.updated_at = now
        if locations_changed:
            await services.replace_locations(session, service, service_events.location_rows(
                service.id, locations, row.location_ids
            ))
        if translations_changed:
            await services.replace_translations(
                session, service, service_events.translation_rows(service.id, body.translations)
            )
        await services.refresh_index(session, service)
        events.append(("service.updated", service_events.changed_event(
            service.id, owner.id, service, _countries(locations, owner)
        )))
        report.services.updated += 1
