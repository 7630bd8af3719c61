"""Bulk export and import of the whole directory as an HSDS 3.0 JSON dataset: an array of
organizations (HSDS `organization_package`), each with its services fully nested, or as an
HSDS tabular data package (`tabular`), which is read back into that same form.

Import is all-or-nothing and idempotent by id: every object is checked and every invalid one
is reported with its line (and file, in a package); organisations and services are created or
updated, each with its event (none when nothing changed), only while no problem has been found,
and in the caller's transaction, so that a problem found later undoes them. What the file does
not mention stays as it is. An export hides confidential locations like every other output;
importing it back keeps their details (same location id, no coordinates given).

New services are checked a batch at a time in a worker thread while the batch before is
written (on PostgreSQL by COPY, its events too): the database's work and Python's overlap."""

import asyncio
import json
import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from waymark_kernel.auth import NETWORK_ADMIN, Identity
from waymark_kernel.clock import utcnow
from waymark_kernel.events import EventData
from waymark_kernel.messaging import outbox_rows, record_events, record_outbox_rows
from waymark_kernel.problems import Conflict, Problem
from waymark_kernel.web import collector_paused

from waymark_registry import EVENT_SOURCE
from waymark_registry.dataset import repository, tabular
from waymark_registry.dataset.crosswalk import Crosswalk, shipped
from waymark_registry.dataset.located_json import JsonSyntaxError, LocatedJson
from waymark_registry.dataset.repository import chunks
from waymark_registry.dataset.schemas import (
    MAX_LISTED_PROBLEMS, ImportedLocation, ImportedService, ImportReport, ImportWarning,
    InvalidRow,
)
from waymark_registry.hsds.service import hsds_organization, hsds_service, hsds_taxonomy
from waymark_registry.organizations import service as organization_events
from waymark_registry.organizations.repository import NATIONAL_SOCIETY
from waymark_registry.organizations.schemas import OrganizationCreate
from waymark_registry.services import repository as services
from waymark_registry.services import service as service_events
from waymark_registry.services.models import (
    Service,
)
from waymark_registry.taxonomy import data as taxonomy
from waymark_registry.taxonomy.service import CODES, TAXONOMY_ID, term_id

# Reads the directory as the network does: confidential locations stay hidden.
EXPORTER = Identity(subject="registry-export", organization_id=None,
                    roles=frozenset({NETWORK_ADMIN}))
STATUSES = {"temporarily closed": "temporarily_closed"}
WITHDRAWN = "inactive"  # a synchronised service its source no longer lists
CODES_BY_TERM_ID = {str(term_id(code)): code for code in CODES}
LOCATION_FIELDS = tuple(ImportedLocation.model_fields)
# New services checked, then written, at a time: bounds the rows held in memory; one batch is
# written while the next is checked.
BATCH = 5000
# Written services from which an import refreshes the planner's statistics (about 1 s for
# 100,000 services) and, once committed, vacuums its tables; after fewer, the statistics and
# visibility of the tables before stay near enough.
ANALYZED_FROM = 1000
log = logging.getLogger("waymark.registry.dataset")
Event = tuple[str, EventData]
T = TypeVar("T")
# HSDS tables kept with a service, each object with these fields.
KEPT_TABLES = {
    "required_documents": ("document", "uri"),
    "cost_options": ("option", "currency", "amount", "amount_description", "valid_from",
                     "valid_to"),
    "service_areas": ("name", "description", "uri"),
    "contacts": ("name", "title", "department", "email"),
}

# The fields of each HSDS object an import reads (or an export writes and an import ignores);
# any other given is counted in the report as not kept, a list by the table it holds.
READ_FIELDS = {
    "organization": frozenset({
        "id", "name", "description", "email", "website", "type", "country", "verified",
        "languages", "organization_identifiers", "phones", "services",
    }),
    "service": frozenset({
        "id", "organization_id", "name", "description", "url", "email", "status",
        "interpretation_services", "fees_description", "eligibility_description",
        "assured_date", "last_modified", "categories", "populations", "migration_stages",
        "interpretation_available", "free_of_charge", "accepts_referrals", "capacity",
        "response_time_hours", "stale", "organization_verified", "language",
        "original_language", "translations", "service_at_locations", "phones", "schedules",
        "languages", "attributes", "organization", *KEPT_TABLES,
    }),
    "location": frozenset({
        "id", "location_type", "name", "latitude", "longitude", "confidential", "addresses",
        "accessibility",
    }),
    "address": frozenset({
        "id", "location_id", "address_1", "city", "state_province", "country", "address_type",
    }),
}
TABLES_OF_LISTS = {
    "programs": "program", "funding": "funding", "contacts": "contact", "phones": "phone",
    "locations": "location", "schedules": "schedule", "languages": "language",
    "addresses": "address", "service_areas": "service_area", "metadata": "metadata",
}


def _count_not_kept(not_kept: Counter[str], table: str, item: dict) -> None:
    for key, value in item.items():
        if key in READ_FIELDS[table] or value in (None, "", [], {}):
            continue
        if isinstance(value, list):
            not_kept[TABLES_OF_LISTS.get(key, key)] += len(value)
        else:
            not_kept[f"{table}.{key}"] += 1


@dataclass(frozen=True)
class ImportOptions:
    dry_run: bool = False  # report what the import would do, change nothing
    crosswalk: Crosswalk = field(default_factory=shipped)
    source: str | None = None  # the HSDS API synchronised from: its services are marked


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


class _Owner(NamedTuple):
    id: uuid.UUID
    country: str


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
    """Collects every problem of a file instead of stopping at the first, and the warnings of
    what is imported otherwise than given."""

    def __init__(self, crosswalk: Crosswalk, source: str | None = None) -> None:
        self.crosswalk = crosswalk
        self.source = source
        self.warnings: list[ImportWarning] = []
        self.not_kept: Counter[str] = Counter()
        self.problems: list[tuple[Path, str, Path]] = []
        self.first_given: dict[uuid.UUID, Path] = {}  # where the file gives each id first

    def refuse(self, path: Path, reason: str, source: Path = ()) -> None:
        self.problems.append((path, reason, source))

    def warn(self, kind: str, path: Path, detail: str) -> None:
        self.warnings.append(ImportWarning(kind=kind, path=_shown(path), detail=detail))

    def identifier(self, item: dict, path: Path) -> uuid.UUID | None:
        try:
            identifier = uuid.UUID(str(item["id"]))
        except (KeyError, ValueError):
            self.refuse(path, "id: give the object's UUID")
            return None
        # Organisations are read before their services: the one later in the file is refused.
        first = self.first_given.setdefault(identifier, path)
        if first != path:
            self.first_given[identifier] = min(first, path)
            self.refuse(max(first, path), "id: given to more than one object")
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
        for path, reason, source in self.problems[:MAX_LISTED_PROBLEMS]:
            found, place = dataset, place_of(dataset) or (None, 1)
            for part in (*path, *source):
                try:
                    found = found[part]
                except (KeyError, IndexError, TypeError):
                    break  # the source is not there: the object itself is meant
                place = place_of(found) or place
            rows.append(InvalidRow(file=place[0], line=place[1], path=_shown(path), reason=reason))
        return rows


def _address_countries(item: dict) -> Counter[str]:
    """The countries of the addresses of an organisation's services' locations."""
    found: Counter[str] = Counter()
    for service in item.get("services") or []:
        for sal in (service.get("service_at_locations") or []) if isinstance(service, dict) else []:
            location = sal.get("location") if isinstance(sal, dict) else None
            for address in (location or {}).get("addresses") or []:
                if isinstance(address, dict) and isinstance(address.get("country"), str):
                    found[address["country"].strip().upper()] += 1
    return found


def _organization_fields(
    checker: _Checker, item: dict, country: str | None
) -> dict[str, Any]:
    _count_not_kept(checker.not_kept, "organization", item)
    phones = item.get("phones") or []
    fields = {
        "name": item.get("name"), "type": item.get("type", "cso"), "country": country,
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


def _terms(checker: _Checker, item: dict) -> tuple[list[str | None], list[dict[str, Any]]]:
    """The Waymark categories of a service's attributes (those its terms of other taxonomies
    map to by the crosswalk included), and those other terms, kept."""
    categories: list[str | None] = []
    others: list[dict[str, Any]] = []
    for attribute in item.get("attributes") or []:
        term = attribute.get("taxonomy_term") or {}
        term_id = str(attribute.get("taxonomy_term_id") or term.get("id"))
        detail = term.get("taxonomy_detail") or {}
        taxonomy_name = detail.get("name") or term.get("taxonomy")
        taxonomy_id = term.get("taxonomy_id") or detail.get("id")
        # A term saying nothing of its taxonomy is taken for one of Waymark's, by its code.
        ours = term_id in CODES_BY_TERM_ID or taxonomy_id == str(TAXONOMY_ID) or (
            taxonomy_name in (None, taxonomy.NAME) and taxonomy_id is None
            and term.get("code") is not None
        )
        if ours:
            categories.append(term.get("code") or CODES_BY_TERM_ID.get(term_id))
        elif term.get("name") or term.get("code"):
            name = str(taxonomy_name or taxonomy_id or "unnamed taxonomy")
            # Publishers give codes and ids as numbers too: kept as text.
            kept = {key: str(term[key]) for key in ("id", "code") if term.get(key) is not None}
            others.append({
                "taxonomy": name, "taxonomy_id": None if taxonomy_id is None else str(taxonomy_id),
                "id": kept.get("id"), "code": kept.get("code"),
                "name": str(term.get("name") or kept["code"]),
            })
            mapped = checker.crosswalk.category(name, kept.get("code"))
            if mapped is not None:
                categories.append(mapped)
        else:
            checker.not_kept["attribute (no taxonomy_term)"] += 1
    return categories, others


def _free_of_charge(cost_options: list[Any]) -> bool | None:
    """An amount of 0 means free of charge (HSDS cost_option); None when no amount is given."""
    amounts = [
        option["amount"] for option in cost_options
        if isinstance(option, dict) and isinstance(option.get("amount"), int | float)
    ]
    return min(amounts) == 0 if amounts else None


def _location(checker: _Checker, location: dict) -> dict[str, Any]:
    address, *others = location.get("addresses") or [{}]
    _count_not_kept(checker.not_kept, "location", location)
    _count_not_kept(checker.not_kept, "address", address)
    checker.not_kept["address"] += len(others)  # a location has one address here
    country = address.get("country")
    return {
        "name": location.get("name"), "address": address.get("address_1") or None,
        "city": address.get("city") or None, "admin_area": address.get("state_province") or None,
        "country": country.strip().upper() if isinstance(country, str) else country,
        "latitude": location.get("latitude"),
        "longitude": location.get("longitude"),
        "confidential": location.get("confidential", False),
        "accessibility": [
            {key: value for key, value in item.items() if key in ("description", "details", "url")}
            for item in location.get("accessibility") or []
        ],
    }


def _service_fields(checker: _Checker, item: dict, organization_id: uuid.UUID) -> dict[str, Any]:
    _count_not_kept(checker.not_kept, "service", item)
    categories, external_terms = _terms(checker, item)
    if item.get("categories") is not None:
        categories = item["categories"]
    fields: dict[str, Any] = {
        "organization_id": str(organization_id), "name": item.get("name"),
        "description": item.get("description"), "categories": categories,
        "status": STATUSES.get(item.get("status"), item.get("status")),
        "languages": [language["code"] for language in item.get("languages") or []],
        "interpretation_available": item.get(
            "interpretation_available", bool(item.get("interpretation_services"))
        ),
        "locations": [
            _location(checker, sal["location"]) for sal in item.get("service_at_locations") or []
        ],
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
    fields["external_terms"] = external_terms
    for table, kept in KEPT_TABLES.items():
        fields[table] = [
            {key: value for key, value in row.items() if key in kept}
            for row in item.get(table) or []
        ]
    if "free_of_charge" not in fields:
        free = _free_of_charge(fields["cost_options"])
        if free is not None:
            fields["free_of_charge"] = free
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


Given = tuple[Path, dict, uuid.UUID | None]  # an organisation object, where it is, its id


def _parse_organizations(checker: _Checker, dataset: Any) -> tuple[list[Given], list[_Parsed]]:
    """Every organisation object of the file, and the valid ones parsed (their services are
    parsed later, a batch at a time)."""
    if not isinstance(dataset, list):
        checker.refuse((), "give an array of HSDS organizations (organization_package)")
        return [], []
    given, parsed = [], []
    for index, item in enumerate(dataset):
        path: Path = (index,)
        if not isinstance(item, dict):
            checker.refuse(path, "an organization is a JSON object")
            continue
        organization_id = checker.identifier(item, path)
        country = item.get("country")
        if country is None:
            countries = _address_countries(item)
            if not countries:
                checker.refuse(path, "country: give the organisation's country, or addresses "
                               "with a country for its services' locations")
                continue
            country = countries.most_common(1)[0][0]
            checker.warn("country_derived", path, f"country {country}, from the addresses of "
                         "its services' locations")
        organization = checker.validated(
            OrganizationCreate, path, lambda item=item, country=country: _organization_fields(
                checker, item, country
            )
        )
        given.append((path, item, organization_id))
        if organization_id and organization:
            parsed.append(_Parsed(path, organization_id, organization))
    return given, parsed


def _given_service_ids(given: list[Given]) -> list[uuid.UUID]:
    """The ids the file gives its services (a malformed one is reported when parsed)."""
    ids = []
    for _, item, _ in given:
        listed = item.get("services")
        for service_item in listed if isinstance(listed, list) else []:
            try:
                ids.append(uuid.UUID(str(service_item["id"])))
            except (KeyError, ValueError, TypeError):
                continue
    return list(dict.fromkeys(ids))


def _parsed_service(
    checker: _Checker, service_item: Any, path: Path, organization: Given
) -> _Parsed | None:
    organization_path, _, organization_id = organization
    if not isinstance(service_item, dict):
        checker.refuse(organization_path, f"services[{path[-1]}]: a service is a JSON object")
        return None
    service_id = checker.identifier(service_item, path)
    body = checker.validated(ImportedService, path, lambda: _service_fields(
        checker, service_item, organization_id or uuid.uuid4()
    ))
    assured = _assured(checker, service_item, path)
    if body is not None and not body.categories:
        checker.warn("uncategorised", path, "no term of Waymark's taxonomy, nor one the "
                     "crosswalk maps: found by words and place only")
    if service_id and body:
        return _Parsed(path, service_id, body, assured, _location_ids(service_item))
    return None


class _LocationIds:
    """Refuses every service giving a location id that another service, or itself, gave."""

    def __init__(self, checker: _Checker) -> None:
        self.checker = checker
        self.first: dict[uuid.UUID, Path] = {}
        self.refused: set[Path] = set()

    def check(self, row: _Parsed) -> None:
        others = {self.first.setdefault(i, row.path) for i in row.location_ids} - {row.path}
        if others or len(set(row.location_ids)) < len(row.location_ids):
            for path in sorted(others - self.refused, key=str) + [row.path]:
                self.checker.refuse(path, "a location id is given more than once")
                self.refused.add(path)


@dataclass
class _Created:
    """New services as rows of each table, and the outbox rows of their events."""

    services: list[dict[str, Any]] = field(default_factory=list)
    translations: list[dict[str, Any]] = field(default_factory=list)
    facets: list[dict[str, Any]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    locations: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Batch:
    """Services of the file, checked: the new ones as rows ready to write (none once they are
    no longer wanted), the stored ones to compare with the directory."""

    created: _Created | None
    changed: list[tuple[_Owner, _Parsed]]


def _service_batches(
    checker: _Checker, given: list[Given], owners: dict[uuid.UUID, _Owner],
    stored_owners: dict[uuid.UUID, uuid.UUID], rows_wanted: Callable[[], bool],
) -> Iterator[_Batch]:
    """The file's services checked and made into rows BATCH new services at a time.
    `stored_owners`: the organisation of each of the file's services already stored."""
    location_ids = _LocationIds(checker)
    new: list[tuple[_Owner, _Parsed]] = []
    changed: list[tuple[_Owner, _Parsed]] = []
    for organization in given:
        path, item, organization_id = organization
        listed = item.get("services") or []
        if not isinstance(listed, list):
            checker.refuse(path, "services: give an array")
            continue
        owner = owners.get(organization_id)
        for position, service_item in enumerate(listed):
            time.sleep(0)  # in a worker thread: lets the event loop feed the database its rows
            row = _parsed_service(checker, service_item, (*path, "services", position), organization)
            if row is None or owner is None:
                continue
            location_ids.check(row)
            stored_owner = stored_owners.get(row.id)
            if stored_owner is None:
                new.append((owner, row))
            elif stored_owner == owner.id:
                changed.append((owner, row))
            else:
                checker.refuse(row.path, "id: this service belongs to another organisation")
            if len(new) == BATCH:
                yield _Batch(_created_rows(new, checker.source) if rows_wanted() else None, changed)
                new, changed = [], []
    yield _Batch(_created_rows(new, checker.source) if rows_wanted() else None, changed)


async def _in_worker_thread(batches: Iterator[T]) -> AsyncIterator[T]:
    """Each batch made in a worker thread while the caller handles the one before: checking
    is CPU work here, writing is mostly the database's."""
    upcoming = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
    try:
        while (batch := await upcoming) is not None:
            upcoming = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
            yield batch
    finally:
        upcoming.cancel()  # the caller stopped: the thread ends its batch, no other is begun


async def _check_organizations(
    session: AsyncSession, checker: _Checker, organizations: list[_Parsed]
) -> None:
    keys = {key[0]: key[1:] for key in await repository.organization_keys(session)}
    for organization in organizations:
        body = organization.body
        keys[organization.id] = (body.country, body.name.lower(), body.type)
    names = Counter((country, name) for country, name, _ in keys.values())
    societies = Counter(country for country, _, kind in keys.values() if kind == NATIONAL_SOCIETY)
    for organization in organizations:
        country, name, kind = keys[organization.id]
        if names[(country, name)] > 1:
            checker.refuse(organization.path, "name: another organisation of this country has "
                           "this name")
        if kind == NATIONAL_SOCIETY and societies[country] > 1:
            checker.refuse(organization.path, "type: another National Society is registered "
                           "for this country")


async def import_dataset(
    session: AsyncSession, data: bytes, options: ImportOptions | None = None
) -> ImportReport:
    """An HSDS JSON dataset, parsed and checked in worker threads."""
    with collector_paused():
        text, dataset = await asyncio.to_thread(_parsed_json, data)

        def located() -> tuple[Any, Callable[[Any], Place | None]]:
            document = LocatedJson(text)  # parsed again only when there are problems to place
            parsed = document.parse()
            return parsed, lambda item: (None, line) if (line := document.line_of(item)) else None

        return await _import(session, dataset, located, options or ImportOptions())


def _each_object(item: dict[str, Any]) -> dict[str, Any]:
    """Called by the JSON parser for every object: a call into Python lets the event loop's
    thread take the GIL while a large file is parsed (the parser alone never lets it go)."""
    return item


def _parsed_json(data: bytes) -> tuple[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(422, "The file is not UTF-8 text.", kind="invalid-dataset") from exc
    try:
        return text, json.loads(text, object_hook=_each_object)
    except (ValueError, RecursionError):
        try:
            LocatedJson(text).parse()  # to tell the line
        except JsonSyntaxError as exc:
            raise _invalid([InvalidRow(line=exc.line, path="", reason=exc.reason)]) from exc
        raise _invalid([InvalidRow(line=1, path="", reason="not valid JSON")]) from None


async def import_package(
    session: AsyncSession, package: tabular.Package, options: ImportOptions | None = None
) -> ImportReport:
    """An HSDS tabular data package, read as it is parsed in a worker thread, checked as its
    JSON form."""
    with collector_paused():
        rows = tabular.Rows()
        dataset = await asyncio.to_thread(rows.read, package)
        if rows.errors:
            raise _invalid(rows.errors, rows.problem_count)
        return await _import(session, dataset, lambda: (dataset, rows.place_of),
                             options or ImportOptions(), rows.not_kept)


def _organization_package(
    organizations: list[dict[str, Any]], services: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """An HSDS API's organisations with their services nested (HSDS organization_package);
    an organisation it gives only nested in its services is taken from there."""
    by_id = {str(item.get("id")): {**item, "services": []} for item in organizations}
    for service in services:
        nested = service.get("organization") or {}
        organization_id = str(service.get("organization_id") or nested.get("id"))
        by_id.setdefault(organization_id, {**nested, "services": []})
        by_id[organization_id]["services"].append(
            {key: value for key, value in service.items() if key != "organization"}
        )
    return list(by_id.values())


async def sync_source(
    session: AsyncSession, source: str, organizations: list[dict[str, Any]],
    services: list[dict[str, Any]], options: ImportOptions | None = None,
) -> ImportReport:
    """Everything an HSDS API lists, applied as an import of its services marked as its own;
    those of its services it no longer lists are withdrawn (made inactive)."""
    dataset = _organization_package(organizations, services)
    options = replace(options or ImportOptions(), source=source)
    with collector_paused():
        report = await _import(session, dataset, lambda: (dataset, lambda _item: None), options)
    if not options.dry_run:
        report.withdrawn = await _withdraw(session, source, {str(s.get("id")) for s in services})
    return report


async def _withdraw(session: AsyncSession, source: str, listed: set[str]) -> int:
    withdrawn = [
        service for service in await repository.services_of_source(session, source)
        if str(service.id) not in listed and service.status != WITHDRAWN
    ]
    owners = await repository.organizations_by_id(
        session, {service.organization_id for service in withdrawn}
    )
    now = utcnow()
    for service in withdrawn:
        service.status, service.updated_at = WITHDRAWN, now
        await services.refresh_index(session, service)
        await service_events.announce(
            session, "service.updated", service, owners[service.organization_id].country
        )
    return len(withdrawn)


async def export_package(session: AsyncSession) -> dict[str, bytes]:
    return tabular.package(await export_dataset(session), hsds_taxonomy())


async def _import(
    session: AsyncSession, dataset: Any,
    located: Callable[[], tuple[Any, Callable[[Any], Place | None]]], options: ImportOptions,
    not_kept: Counter[str] | None = None,
) -> ImportReport:
    """A dry run is the import with its writes rolled back: the same report, the directory
    unchanged. (Not a savepoint: on SQLite one begun before the checks' reads makes the first
    write upgrade a read transaction, which fails when another connection wrote meanwhile.)"""
    report = await _checked_import(session, dataset, located, options)
    if options.dry_run:
        await session.rollback()
    report.dry_run = options.dry_run
    report.not_kept = dict(sorted((Counter(not_kept) + Counter(report.not_kept)).items()))
    return report


async def _checked_import(
    session: AsyncSession, dataset: Any,
    located: Callable[[], tuple[Any, Callable[[Any], Place | None]]], options: ImportOptions,
) -> ImportReport:
    """Checks every object and reports every problem; writes only while none is found, in the
    caller's transaction, which a problem found later undoes."""
    checker = _Checker(options.crosswalk, options.source)
    given, organizations = await asyncio.to_thread(_parse_organizations, checker, dataset)
    stored_services = await repository.services_by_id(session, _given_service_ids(given))
    await _check_organizations(session, checker, organizations)
    owners = {row.id: _Owner(row.id, row.body.country) for row in organizations}
    report, changed, clash = ImportReport(), [], None
    if not checker.problems:
        clash = await _clash_of(_save_organizations(session, organizations, report))
    batches = _service_batches(checker, given, owners, {
        service.id: service.organization_id for service in stored_services.values()
    }, rows_wanted=lambda: clash is None and not checker.problems)
    async with aclosing(_in_worker_thread(batches)) as checked:
        async for batch in checked:
            changed += batch.changed
            if batch.created is not None and clash is None:
                # After a clash nothing more is written (PostgreSQL has aborted the
                # transaction); the checking goes on.
                clash = await _clash_of(_write_created(session, batch.created))
                report.services.created += len(batch.created.services)
    if checker.problems:
        raise await asyncio.to_thread(
            lambda: _invalid(checker.report(*located()), len(checker.problems))
        )
    if clash is None:
        clash = await _clash_of(_update_all(session, changed, stored_services, report,
                                            options.source))
    if clash is not None:
        raise Conflict("The file clashes with the directory (a location id is used by another "
                       "service); nothing was imported.") from clash
    if _is_large(report):
        await repository.refresh_statistics(session)
    report.warnings = checker.warnings
    report.not_kept = dict(checker.not_kept)
    return report


def _is_large(report: ImportReport) -> bool:
    return not report.dry_run and report.services.created + report.services.updated >= ANALYZED_FROM


async def settle(engine: AsyncEngine, report: ImportReport) -> None:
    """After an import has committed: a large one's tables vacuumed. The import stands without
    it (autovacuum, where it is on, comes later): a failure is only logged."""
    if not _is_large(report):
        return
    try:
        await repository.vacuum_imported(engine)
    except Exception:
        log.exception("the imported tables could not be vacuumed")


async def _clash_of(write: Awaitable[None]) -> IntegrityError | None:
    """None once `write` is done, or the clash with the directory that stopped it."""
    try:
        await write
    except IntegrityError as exc:
        return exc
    return None


async def _update_all(
    session: AsyncSession, rows: list[tuple[_Owner, _Parsed]],
    stored_services: dict[uuid.UUID, Service], report: ImportReport, source: str | None,
) -> None:
    for chunk in chunks(rows):
        await _update_services(session, chunk, stored_services, report, source)


def _invalid(errors: list[InvalidRow], count: int | None = None) -> Problem:
    """The 422 of an import: `count` problems (default: as many as `errors`), the first
    MAX_LISTED_PROBLEMS of them listed."""
    count = len(errors) if count is None else count
    errors = sorted(errors, key=lambda error: (error.file or "", error.line, error.path))
    errors = errors[:MAX_LISTED_PROBLEMS]
    listed = "" if count == len(errors) else f" (the first {len(errors)} are listed)"
    return Problem(
        422, f"{count} problem(s) in the file{listed}; nothing was imported.",
        kind="invalid-dataset", extra={"errors": [error.model_dump() for error in errors]},
    )


async def _save_organizations(
    session: AsyncSession, parsed: list[_Parsed], report: ImportReport
) -> None:
    stored = await repository.organizations_by_id(session, [row.id for row in parsed])
    now = utcnow()
    created, updated, moved, events = [], [], [], []
    for row in parsed:
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
                    organization.id, organization, changes
                )))
                if "country" in changes:
                    moved.append(organization)
    await repository.insert_organizations(session, created)
    await record_events(session, EVENT_SOURCE, events)
    for organization in moved:
        await service_events.announce_organization_moved(session, organization)
    report.organizations.created = len(created)
    report.organizations.updated = len(updated)
    report.organizations.unchanged = len(parsed) - len(created) - len(updated)


def _verified_at(row: _Parsed, now: datetime) -> datetime:
    if row.last_verified is None:
        return now
    return datetime.combine(row.last_verified, datetime.min.time(), tzinfo=UTC)


def _with_kept_secrets(row: _Parsed, stored_locations: list) -> list[ImportedLocation]:
    """A confidential location given without its details (as exported) keeps the stored ones."""
    stored = {location.id: location for location in stored_locations if location.confidential}
    kept = []
    for location, location_id in zip(row.body.locations, row.location_ids, strict=True):
        original = stored.get(location_id)
        bare = location.latitude is None and location.name is None and location.address is None
        if location.confidential and bare and original is not None:
            location = ImportedLocation(**{f: getattr(original, f) for f in LOCATION_FIELDS})
        kept.append(location)
    return kept


def _service_values(body: ImportedService) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude={"organization_id", "locations", "translations"})


def _countries(locations: list[ImportedLocation], owner: _Owner) -> list[str]:
    """Where a service is found: its locations' countries, else its organisation's."""
    return sorted({location.country for location in locations}) or [owner.country]


class _Texts(NamedTuple):
    """What the search documents of a new service are made of."""

    id: uuid.UUID
    name: str
    description: str | None
    original_language: str | None


def _created_rows(rows: list[tuple[_Owner, _Parsed]], source: str | None) -> _Created:
    now = utcnow()
    created, events = _Created(), []
    for owner, row in rows:
        body: ImportedService = row.body
        created.services.append({
            "id": row.id, **_service_values(body), "organization_id": owner.id,
            "last_verified_at": _verified_at(row, now), "created_at": now, "updated_at": now,
            "source": source,
        })
        created.locations += service_events.location_values(
            row.id, body.locations, row.location_ids
        )
        created.translations += [
            {"service_id": row.id, **translation.model_dump()} for translation in body.translations
        ]
        countries = _countries(body.locations, owner)
        created.facets += [
            {"service_id": row.id, "facet": facet, "value": value}
            for facet, field_name in (*services.FACETS.items(), ("country", None))
            for value in (countries if field_name is None else getattr(body, field_name))
        ]
        texts = _Texts(row.id, body.name, body.description, body.original_language)
        created.documents += services.document_rows(texts, body.translations)
        events.append(("service.created", service_events.changed_event(
            row.id, owner.id, body, countries
        )))
    created.events = outbox_rows(EVENT_SOURCE, events)
    return created


async def _write_created(session: AsyncSession, created: _Created) -> None:
    await repository.insert_services(
        session, created.services, created.translations, created.facets, created.documents,
        created.locations,
    )
    await record_outbox_rows(session, created.events)


async def _update_services(
    session: AsyncSession, rows: list[tuple[_Owner, _Parsed]],
    stored_services: dict[uuid.UUID, Service], report: ImportReport, source: str | None,
) -> None:
    events: list[Event] = []
    existing = [row.id for _, row in rows]
    stored_locations = await services.locations_of(session, existing)
    stored_translations = await services.translations_of(session, existing)
    for location in (loc for found in stored_locations.values() for loc in found):
        session.expunge(location)  # rows of the same ids may replace them
    now = utcnow()
    for owner, row in rows:
        body: ImportedService = row.body
        service = stored_services[row.id]
        locations = _with_kept_secrets(row, stored_locations[row.id])
        values = _service_values(body)
        changes = {key: value for key, value in values.items() if getattr(service, key) != value}
        if row.last_verified and row.last_verified != service.last_verified_at.date():
            changes["last_verified_at"] = _verified_at(row, now)
        if source is not None and service.source != source:
            changes["source"] = source
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
    await record_events(session, EVENT_SOURCE, events)
