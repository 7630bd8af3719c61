"""The directory as Open Referral HSDS 3.0 objects, with this network's profile.

HSDS has no place for a confidential location: outside the owning organisation it keeps only
its city, admin area and country, as everywhere else in the registry."""

import math
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.auth import Identity
from waymark_kernel.clock import as_utc, rfc3339, utcnow
from waymark_kernel.problems import NotFound

from waymark_registry.hsds import repository
from waymark_registry.hsds.schemas import HsdsInfo, HsdsPage, ProfileRead
from waymark_registry.organizations import repository as organizations
from waymark_registry.organizations.models import Organization
from waymark_registry.services import repository as services
from waymark_registry.services.models import ServiceLocation, ServiceTranslation
from waymark_registry.services.repository import Listed
from waymark_registry.services.service import in_language, is_stale
from waymark_registry.taxonomy import data as taxonomy
from waymark_registry.taxonomy.service import TAXONOMY_ID, term_id, with_subcategories

HSDS_VERSION = "3.0"
PROFILE_PATH = "/v1/hsds/profile"
ID_NAMESPACE = uuid.UUID("0b9c7f86-5d3e-4f55-9a57-6c1f1a2e8d40")
STATUSES = {"temporarily_closed": "temporarily closed"}  # HSDS spells it with a space
TERMS_BY_CODE = {term.code: term for term in taxonomy.TERMS}
PROFILE = ProfileRead(
    name="Waymark migrant services profile of HSDS 3.0",
    description="HSDS 3.0 with the fields caseworkers need to refer migrants safely.",
    extensions={
        "service": {
            "categories": "taxonomy codes (also given as attributes with taxonomy_term)",
            "populations": "people served: migrant_domestic_workers, victims_of_trafficking, "
            "unaccompanied_children, women_at_risk, returnees, all_migrants",
            "migration_stages": "origin, transit, destination, return",
            "free_of_charge": "boolean", "accepts_referrals": "boolean",
            "capacity": "available, limited or full", "response_time_hours": "integer",
            "interpretation_available": "boolean",
            "stale": "true when not confirmed (assured_date) for 180 days",
            "organization_verified": "the network has verified the owning organisation",
            "language": "language of name and description shown (Accept-Language)",
        },
        "location": {
            "confidential": "a shelter or safe house: outside the owning organisation only "
            "city, state_province and country are shown",
        },
        "taxonomy_term": {"iasc_cluster": "IASC cluster", "names": "name by language"},
        "organization": {
            "type": "national_society, cso, government, international, migrant_association",
            "country": "ISO 3166-1 alpha-2", "verified": "boolean",
            "languages": "ISO 639 codes of the languages the organisation works in",
        },
    },
    deviations=[
        "address.postal_code is an empty string where the country has no postcodes; "
        "state_province holds the admin area",
        "pages hold at most 100 items (per_page)",
    ],
)


def derived_id(*parts: Any) -> str:
    """A stable id for an object HSDS wants that the registry stores inside another."""
    return str(uuid.uuid5(ID_NAMESPACE, ":".join(map(str, parts))))


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _clock(time: str | None) -> str | None:
    """HSDS `time`: HH:MM:SS."""
    return f"{time}:00" if time is not None and len(time) == 5 else time


def page(total: int, page_number: int, per_page: int, contents: list[dict]) -> HsdsPage:
    total_pages = max(1, math.ceil(total / per_page))
    return HsdsPage(
        total_items=total, total_pages=total_pages, page_number=page_number, size=len(contents),
        first_page=page_number == 1, last_page=page_number >= total_pages, empty=total == 0,
        contents=contents,
    )


def info(base_url: str) -> HsdsInfo:
    return HsdsInfo(
        version=HSDS_VERSION, profile=f"{base_url}{PROFILE_PATH}",
        openapi_url=f"{base_url}/openapi.json",
    )


def hsds_term(code: str) -> dict[str, Any]:
    term = TERMS_BY_CODE[code]
    return _present({
        "id": str(term_id(code)), "code": code, "name": term.names["en"],
        "description": term.description,
        "parent_id": str(term_id(term.parent_code)) if term.parent_code else None,
        "taxonomy": taxonomy.NAME, "taxonomy_id": str(TAXONOMY_ID), "language": "en",
        "iasc_cluster": term.iasc_cluster, "names": term.names,
    })


def hsds_external_term(term: dict[str, Any]) -> dict[str, Any]:
    """A term of another taxonomy, with the ids its publisher gave (else derived ones)."""
    taxonomy_id = term.get("taxonomy_id") or derived_id("taxonomy", term["taxonomy"])
    return _present({
        "id": term.get("id") or derived_id("term", term["taxonomy"], term.get("code")),
        "code": term.get("code"), "name": term["name"], "description": "",
        "taxonomy": term["taxonomy"], "taxonomy_id": taxonomy_id,
        "taxonomy_detail": {"id": taxonomy_id, "name": term["taxonomy"], "description": ""},
    })


def hsds_external_attribute(service_id: str, term: dict[str, Any]) -> dict[str, Any]:
    shown = hsds_external_term(term)
    return {
        "id": derived_id(service_id, "attribute", shown["taxonomy_id"], shown["id"]),
        "link_id": service_id, "link_type": "service", "link_entity": "service",
        "taxonomy_term_id": shown["id"], "taxonomy_term": shown,
    }


def hsds_taxonomy() -> dict[str, Any]:
    return {
        "id": str(TAXONOMY_ID), "name": taxonomy.NAME, "description": taxonomy.DESCRIPTION,
        "version": taxonomy.VERSION,
    }


def hsds_organization(organization: Organization, full: bool = False) -> dict[str, Any]:
    found = _present({
        "id": str(organization.id), "name": organization.name,
        "description": organization.description or "", "email": organization.email,
        "website": organization.website, "type": organization.type,
        "country": organization.country, "verified": organization.verified,
        "languages": organization.languages,
    })
    if full:
        found["organization_identifiers"] = [
            _present({
                "id": derived_id(organization.id, "identifier", position),
                "organization_id": str(organization.id), **identifier,
            })
            for position, identifier in enumerate(organization.identifiers)
        ]
        found["phones"] = [
            {"id": derived_id(organization.id, "phone"), "organization_id": str(organization.id),
             "number": organization.phone}
        ] if organization.phone else []
    return found


def hsds_location(
    location: ServiceLocation, organization_id: uuid.UUID, viewer: Identity
) -> dict[str, Any]:
    hidden = location.confidential and not viewer.belongs_to(organization_id)
    shown = _present({
        "id": str(location.id), "location_type": "physical",
        "name": None if hidden else location.name,
        "latitude": None if hidden else location.latitude,
        "longitude": None if hidden else location.longitude,
        "confidential": location.confidential,
    })
    shown["accessibility"] = [] if hidden else [
        _present({"id": derived_id(location.id, "accessibility", position),
                  "location_id": str(location.id), **accessibility})
        for position, accessibility in enumerate(location.accessibility)
    ]
    shown["addresses"] = [{
        "id": derived_id(location.id, "address"), "location_id": str(location.id),
        "address_1": "" if hidden else location.address or "", "city": location.city or "",
        "state_province": location.admin_area or "", "postal_code": "",
        "country": location.country, "address_type": "physical",
    }]
    return shown


def hsds_service_at_location(
    location: ServiceLocation, organization_id: uuid.UUID, viewer: Identity
) -> dict[str, Any]:
    return {
        "id": derived_id(location.id, "service_at_location"),
        "service_id": str(location.service_id), "location_id": str(location.id),
        "location": hsds_location(location, organization_id, viewer),
    }


def hsds_service(
    listed: Listed, viewer: Identity, languages: list[str], *,
    translations: list[ServiceTranslation], locations: list[ServiceLocation] | None = None,
    organization: Organization | None = None,
) -> dict[str, Any]:
    """A service as in `service_list`, or nested in full (`service`) when the rest is given."""
    service = listed.service
    texts = in_language(
        {"name": service.name, "description": service.description}, service.original_language,
        translations, languages,
    )
    found = _present({
        "id": str(service.id), "organization_id": str(service.organization_id),
        "name": texts["name"], "description": texts["description"], "url": service.url,
        "email": service.email, "status": STATUSES.get(service.status, service.status),
        "interpretation_services": (
            "Interpretation available" if service.interpretation_available else None
        ),
        "fees_description": "Free of charge" if service.free_of_charge else None,
        "eligibility_description": service.eligibility_description,
        "assured_date": as_utc(service.last_verified_at).date().isoformat(),
        "last_modified": rfc3339(service.updated_at),
        "language": texts["language"],
        "categories": service.categories, "populations": service.populations,
        "migration_stages": service.migration_stages,
        "interpretation_available": service.interpretation_available,
        "free_of_charge": service.free_of_charge, "accepts_referrals": service.accepts_referrals,
        "capacity": service.capacity, "response_time_hours": service.response_time_hours,
        "stale": is_stale(service.last_verified_at, utcnow()),
        "organization_verified": listed.organization_verified,
    })
    if locations is None:
        return found
    service_id = str(service.id)
    found["service_at_locations"] = [
        hsds_service_at_location(location, service.organization_id, viewer)
        for location in locations
    ]
    found["phones"] = [
        _present({
            "id": derived_id(service_id, "phone", position), "service_id": service_id,
            "number": phone["number"], "type": phone.get("type"),
            "description": phone.get("description"),
            "languages": [
                {"id": derived_id(service_id, "phone", position, code), "code": code}
                for code in phone.get("languages", [])
            ],
        })
        for position, phone in enumerate(service.phones)
    ]
    found["schedules"] = [
        _present({
            "id": derived_id(service_id, "schedule", position), "service_id": service_id,
            "freq": "WEEKLY", "wkst": "MO", "byday": ",".join(schedule.get("byday", [])) or None,
            "opens_at": _clock(schedule.get("opens_at")),
            "closes_at": _clock(schedule.get("closes_at")),
            "description": schedule.get("description"),
        })
        for position, schedule in enumerate(service.schedules)
    ]
    found["languages"] = [
        {"id": derived_id(service_id, "language", code), "service_id": service_id, "code": code}
        for code in service.languages
    ]
    found["attributes"] = [
        {
            "id": derived_id(service_id, "attribute", code), "link_id": service_id,
            "link_type": "service", "link_entity": "service",
            "taxonomy_term_id": str(term_id(code)), "taxonomy_term": hsds_term(code),
        }
        for code in service.categories
    ] + [hsds_external_attribute(service_id, term) for term in service.external_terms]
    found["required_documents"] = [
        _present({"id": derived_id(service_id, "required_document", position),
                  "service_id": service_id, **document})
        for position, document in enumerate(service.required_documents)
    ]
    found["cost_options"] = [
        _present({"id": derived_id(service_id, "cost_option", position),
                  "service_id": service_id, **option})
        for position, option in enumerate(service.cost_options)
    ]
    found["service_areas"] = [
        _present({"id": derived_id(service_id, "service_area", position),
                  "service_id": service_id, **area})
        for position, area in enumerate(service.service_areas)
    ]
    found["contacts"] = [
        _present({"id": derived_id(service_id, "contact", position),
                  "service_id": service_id, **contact})
        for position, contact in enumerate(service.contacts)
    ]
    if organization is not None:
        found["organization"] = hsds_organization(organization)
    return found


async def list_services(
    session: AsyncSession, viewer: Identity, languages: list[str], *, search: str | None,
    organization_id: uuid.UUID | None, taxonomy_term_id: uuid.UUID | None,
    modified_after: datetime | None, page_number: int, per_page: int,
) -> HsdsPage:
    categories = None
    if taxonomy_term_id is not None:
        codes = [code for code in TERMS_BY_CODE if term_id(code) == taxonomy_term_id]
        categories = with_subcategories(codes)
    total, rows = await repository.services_page(
        session, search=search, organization_id=organization_id, categories=categories,
        modified_after=modified_after, offset=(page_number - 1) * per_page, limit=per_page,
    )
    translations = await services.translations_of(session, [row.service.id for row in rows])
    contents = [
        hsds_service(row, viewer, languages, translations=translations[row.service.id])
        for row in rows
    ]
    return page(total, page_number, per_page, contents)


async def get_service(
    session: AsyncSession, viewer: Identity, languages: list[str], service_id: uuid.UUID
) -> dict[str, Any]:
    listed = await services.get_listed(session, service_id)
    if listed is None:
        raise NotFound("service")
    organization = await organizations.get(session, listed.service.organization_id)
    return hsds_service(
        listed, viewer, languages,
        translations=(await services.translations_of(session, [service_id]))[service_id],
        locations=(await services.locations_of(session, [service_id]))[service_id],
        organization=organization,
    )


async def list_organizations(
    session: AsyncSession, *, search: str | None, page_number: int, per_page: int
) -> HsdsPage:
    total, rows = await repository.organizations_page(
        session, search=search, offset=(page_number - 1) * per_page, limit=per_page
    )
    return page(total, page_number, per_page, [hsds_organization(row) for row in rows])


async def get_organization(
    session: AsyncSession, viewer: Identity, languages: list[str], organization_id: uuid.UUID
) -> dict[str, Any]:
    organization = await organizations.get(session, organization_id)
    if organization is None:
        raise NotFound("organization")
    rows = await repository.services_of(session, organization_id)
    translations = await services.translations_of(session, [row.service.id for row in rows])
    return {
        **hsds_organization(organization, full=True),
        "services": [
            hsds_service(row, viewer, languages, translations=translations[row.service.id])
            for row in rows
        ],
    }


async def list_service_at_locations(
    session: AsyncSession, viewer: Identity, *, service_id: uuid.UUID | None, page_number: int,
    per_page: int,
) -> HsdsPage:
    total, rows = await repository.service_locations_page(
        session, service_id=service_id, offset=(page_number - 1) * per_page, limit=per_page
    )
    contents = [hsds_service_at_location(loc, org_id, viewer) for loc, org_id in rows]
    return page(total, page_number, per_page, contents)


async def _external_terms(session: AsyncSession) -> list[dict[str, Any]]:
    """Each term of another taxonomy that a service imported from a publisher keeps, once."""
    found = {}
    for terms in await repository.external_terms(session):
        for term in terms:
            shown = hsds_external_term(term)
            found.setdefault((shown["taxonomy_id"], shown["id"]), shown)
    return list(found.values())


async def list_taxonomies(session: AsyncSession, page_number: int, per_page: int) -> HsdsPage:
    others = {term["taxonomy_id"]: term["taxonomy_detail"]
              for term in await _external_terms(session)}
    everything = [hsds_taxonomy(), *others.values()]
    start = (page_number - 1) * per_page
    return page(len(everything), page_number, per_page, everything[start:start + per_page])


async def list_taxonomy_terms(
    session: AsyncSession, page_number: int, per_page: int, parent_id: uuid.UUID | None
) -> HsdsPage:
    """Waymark's terms, then those of other taxonomies that imported services keep (which
    have no parent here)."""
    terms = [
        hsds_term(code) for code in TERMS_BY_CODE
        if parent_id is None or TERMS_BY_CODE[code].parent_code
        and term_id(TERMS_BY_CODE[code].parent_code) == parent_id
    ]
    if parent_id is None:
        terms += await _external_terms(session)
    start = (page_number - 1) * per_page
    return page(len(terms), page_number, per_page, terms[start:start + per_page])
