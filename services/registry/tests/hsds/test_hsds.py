"""The HSDS 3.0 read API: its output validates against the vendored HSDS JSON Schemas, and
confidential locations stay with their organisation there too."""

import json
import uuid
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from waymark_kernel.auth import CASEWORKER, VIEWER

SCHEMAS = Path(__file__).parent.parent / "data" / "hsds"
SAFE_HOUSE = {
    "name": "Safe house Lalitpur", "address": "Lane 4, Ward 10", "city": "Lalitpur",
    "admin_area": "Bagmati", "country": "NP", "latitude": 27.6588, "longitude": 85.3247,
    "confidential": True,
}
DESK = {
    "name": "Airport help desk", "address": "Arrivals hall", "city": "Kathmandu",
    "admin_area": "Bagmati", "country": "NP", "latitude": 27.6966, "longitude": 85.3591,
}


def _load(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


_references = Registry().with_resources(
    (name, Resource.from_contents(_load(name), default_specification=DRAFT202012))
    for name in ("taxonomy.json", "metadata.json")
)


def validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator(
        schema, registry=_references, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


SERVICE = validator(_load("compiled/service.json"))
SERVICE_LIST = validator(_load("compiled/service_list.json"))
ORGANIZATION_LIST = validator(_load("compiled/organization_list.json"))
SERVICE_AT_LOCATION = validator(
    _load("compiled/service.json")["properties"]["service_at_locations"]["items"]
)
TAXONOMY = validator(_load("taxonomy.json"))
TAXONOMY_TERM = validator(_load("taxonomy_term.json"))
PAGE = validator(_load("openapi.json")["components"]["schemas"]["Page"])


def valid(schema: Draft202012Validator, instance: dict) -> dict:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in schema.iter_errors(instance)]
    assert errors == [], errors
    return instance


def valid_page(schema: Draft202012Validator, page: dict) -> list[dict]:
    valid(PAGE, page)
    assert set(page) == {
        "total_items", "total_pages", "page_number", "size", "first_page", "last_page", "empty",
        "contents",
    }
    return [valid(schema, item) for item in page["contents"]]


@pytest.fixture
async def directory(registry):
    owner = await registry.organization(
        name="Pourakhi", description="Returnee women's association",
        email="info@example.org", phone="+977 1 4000000",
        identifiers=[{"identifier_type": "SWC registration", "identifier": "12345"}],
    )
    shelter = await registry.service(
        owner, name="Returnee shelter", description="Safe shelter for women returning.",
        categories=["shelter.safe_house", "mhpss.counselling"], status="temporarily_closed",
        languages=["ne", "en"], interpretation_available=True, populations=["returnees"],
        migration_stages=["return"], capacity="limited", response_time_hours=24,
        eligibility_description="Women returning from abroad.", locations=[DESK, SAFE_HOUSE],
        phones=[{"number": "+977 1 4000001", "type": "hotline", "languages": ["ne"]}],
        schedules=[{"byday": ["MO", "FR"], "opens_at": "09:00", "closes_at": "17:00"}],
        email="shelter@example.org", url="https://example.org/shelter", original_language="en",
        translations=[{"field": "name", "language": "ne", "text": "फर्किएकाहरूको आश्रय"}],
    )
    other = await registry.organization(name="Other CSO")
    await registry.service(other, name="Legal desk", categories=["legal.information"])
    return {"owner": owner, "other": other, "shelter": shelter}


async def get(registry, path: str, organization_id=None, **params) -> dict:
    response = await registry.client.get(
        f"/v1/hsds{path}", params=params,
        headers=registry.headers(organization_id or uuid.uuid4(), VIEWER),
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_root_declares_version_and_profile(registry):
    root = await get(registry, "/")
    profile = await get(registry, "/profile")

    assert root["version"] == "3.0"
    assert root["profile"].endswith("/v1/hsds/profile")
    assert root["openapi_url"].endswith("/openapi.json")
    assert "populations" in profile["extensions"]["service"]


async def test_services_page_and_detail_validate(registry, directory):
    listed = valid_page(SERVICE_LIST, await get(registry, "/services"))
    shelter_id = directory["shelter"]["id"]
    detail = valid(SERVICE, await get(registry, f"/services/{shelter_id}"))

    assert [item["name"] for item in listed] == ["Legal desk", "Returnee shelter"]
    assert detail["status"] == "temporarily closed"
    assert detail["organization"]["name"] == "Pourakhi"
    assert [a["taxonomy_term"]["code"] for a in detail["attributes"]] == [
        "shelter.safe_house", "mhpss.counselling",
    ]
    assert detail["populations"] == ["returnees"] and detail["accepts_referrals"] is True
    assert [language["code"] for language in detail["languages"]] == ["ne", "en"]
    assert detail["schedules"][0]["byday"] == "MO,FR"


async def test_paging_filters_and_languages(registry, directory):
    first = await get(registry, "/services", per_page=1)
    second = await get(registry, "/services", per_page=1, page=2)
    terms = (await get(registry, "/taxonomy_terms", per_page=100))["contents"]
    shelter_id = next(term["id"] for term in terms if term["code"] == "shelter")
    by_term = await get(registry, "/services", taxonomy_term_id=shelter_id)
    by_text = await get(registry, "/services", search="shelter returning")
    in_nepali = await registry.client.get(
        f"/v1/hsds/services/{directory['shelter']['id']}",
        headers={**registry.headers(uuid.uuid4(), VIEWER), "Accept-Language": "ne"},
    )

    assert (first["total_items"], first["total_pages"], first["size"]) == (2, 2, 1)
    assert first["first_page"] and not first["last_page"] and not first["empty"]
    assert second["last_page"] and second["contents"][0]["name"] == "Returnee shelter"
    assert [s["name"] for s in by_term["contents"]] == ["Returnee shelter"]
    assert [s["name"] for s in by_text["contents"]] == ["Returnee shelter"]
    assert in_nepali.json()["name"] == "फर्किएकाहरूको आश्रय"
    assert (await get(registry, "/services", search="nothing-like-it"))["empty"] is True


async def test_organizations_validate(registry, directory):
    listed = valid_page(ORGANIZATION_LIST, await get(registry, "/organizations"))
    detail = await get(registry, f"/organizations/{directory['owner']['id']}")

    assert [item["name"] for item in listed] == ["Other CSO", "Pourakhi"]
    valid(ORGANIZATION_LIST, detail)
    for service in detail["services"]:
        valid(SERVICE_LIST, service)
    assert detail["organization_identifiers"][0]["identifier"] == "12345"
    assert [s["name"] for s in detail["services"]] == ["Returnee shelter"]


async def test_taxonomies_and_terms_validate(registry):
    taxonomies = valid_page(TAXONOMY, await get(registry, "/taxonomies"))
    terms = valid_page(TAXONOMY_TERM, await get(registry, "/taxonomy_terms", per_page=100))
    protection = next(term for term in terms if term["code"] == "protection")
    children = await get(registry, "/taxonomy_terms", parent_id=protection["id"])

    assert taxonomies[0]["version"]
    assert {term["code"] for term in children["contents"]} >= {
        "protection.gbv", "protection.anti_trafficking", "protection.child_protection",
    }
    assert protection["names"]["ar"] == "الحماية" and protection["iasc_cluster"] == "Protection"


async def test_confidential_location_is_hidden_outside_its_organisation(registry, directory):
    shelter_id = directory["shelter"]["id"]
    outsider_views = [
        json.dumps(await get(registry, f"/services/{shelter_id}", directory["other"]["id"])),
        json.dumps(await get(registry, "/service_at_locations")),
        json.dumps(await get(registry, f"/organizations/{directory['owner']['id']}")),
    ]
    own = await get(registry, f"/services/{shelter_id}", directory["owner"]["id"])
    outsider = json.loads(outsider_views[0])
    locations = valid_page(SERVICE_AT_LOCATION, json.loads(outsider_views[1]))

    for view in outsider_views:
        for secret in ("Safe house Lalitpur", "Lane 4", "27.6588", "85.3247"):
            assert secret not in view
    hidden = outsider["service_at_locations"][1]["location"]
    assert hidden["confidential"] is True and "latitude" not in hidden
    assert hidden["addresses"][0]["city"] == "Lalitpur"
    assert len(locations) == 2
    shown = own["service_at_locations"][1]["location"]
    assert (shown["name"], shown["latitude"]) == ("Safe house Lalitpur", 27.6588)
    assert shown["addresses"][0]["address_1"] == "Lane 4, Ward 10"


UNKNOWN = uuid.UUID("5f0c2d1e-0000-4000-8000-000000000404")  # fixed: xdist's workers collect alike


@pytest.mark.parametrize(("path", "params", "status"), [
    ("/services", {"per_page": 1000}, 422),
    ("/services", {"page": 0}, 422),
    ("/services", {"taxonomy_term_id": "dentistry"}, 422),
    ("/organizations", {"per_page": 0}, 422),
    (f"/services/{UNKNOWN}", {}, 404),
    (f"/organizations/{UNKNOWN}", {}, 404),
])
async def test_bad_requests_are_problems(registry, path, params, status):
    response = await registry.client.get(
        f"/v1/hsds{path}", params=params, headers=registry.headers(uuid.uuid4(), CASEWORKER)
    )

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_hsds_api_needs_a_token(registry):
    assert (await registry.client.get("/v1/hsds/services")).status_code == 401
