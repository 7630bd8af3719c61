"""The HSDS 3.0 read API: its output validates against the vendored HSDS JSON Schemas, and
confidential locations stay with their organisation there too."""

import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
import referencing
from jsonschema import Draft202012Validator
from referencing import Resource
from referencing.jsonschema import DRAFT202012

from services.registry.tests.conftest import Registry
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


def _load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return schema


_references = referencing.Registry().with_resources(
    (name, Resource.from_contents(_load(name), default_specification=DRAFT202012))
    for name in ("taxonomy.json", "metadata.json")
)


def validator(schema: dict[str, Any]) -> Draft202012Validator:
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


def valid(schema: Draft202012Validator, instance: dict[str, Any]) -> dict[str, Any]:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in schema.iter_errors(instance)]
    assert errors == [], errors
    return instance


def valid_page(schema: Draft202012Validator, page: dict[str, Any]) -> list[dict[str, Any]]:
    valid(PAGE, page)
    assert set(page) == {
        "total_items", "total_pages", "page_number", "size", "first_page", "last_page", "empty",
        "contents",
    }
    return [valid(schema, item) for item in page["contents"]]


@pytest.fixture
async def directory(registry: Registry) -> dict[str, dict[str, Any]]:
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


async def get(
    registry: Registry, path: str, organization_id: uuid.UUID | str | None = None, **params: Any
) -> dict[str, Any]:
    response = await registry.client.get(
        f"/v1/hsds{path}", params=params,
        headers=registry.headers(organization_id or uuid.uuid4(), VIEWER),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_root_declares_version_and_profile(registry: Registry) -> None:
    root = await get(registry, "/")
    profile = await get(registry, "/profile")

    assert root["version"] == "3.0"
    assert root["profile"].endswith("/v1/hsds/profile")
    assert root["openapi_url"].endswith("/openapi.json")
    assert "populations" in profile["extensions"]["service"]


async def test_services_page_and_detail_validate(
    registry: Registry, directory: dict[str, dict[str, Any]]
) -> None:
    listed = valid_page(SERVICE_LIST, await get(registry, "/services"))
    shelter_id = directory["shelter"]["id"]
    detail = valid(SERVICE, await get(registry, f"/services/{shelter_id}"))

    assert [item["name"] for item in listed] == ["Legal desk", "Returnee shelter"]
    assert detail["status"] == "temporarily closed"
    assert detail["organization"]["name"] == "Pourakhi"
    assert [a["taxonomy_term"]["code"] for a in detail["attributes"]] == [
        "shelter.safe_house", "mhpss.counselling",
    ]
    assert detail["populations"] == ["returnees"]
    assert detail["accepts_referrals"] is True
    assert [language["code"] for language in detail["languages"]] == ["ne", "en"]
    assert detail["schedules"][0]["byday"] == "MO,FR"


async def test_paging_filters_and_languages(
    registry: Registry, directory: dict[str, dict[str, Any]]
) -> None:
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
    assert first["first_page"]
    assert not first["last_page"]
    assert not first["empty"]
    assert second["last_page"]
    assert second["contents"][0]["name"] == "Returnee shelter"
    assert [s["name"] for s in by_term["contents"]] == ["Returnee shelter"]
    assert [s["name"] for s in by_text["contents"]] == ["Returnee shelter"]
    assert in_nepali.json()["name"] == "फर्किएकाहरूको आश्रय"
    assert (await get(registry, "/services", search="nothing-like-it"))["empty"] is True


async def test_organizations_validate(
    registry: Registry, directory: dict[str, dict[str, Any]]
) -> None:
    listed = valid_page(ORGANIZATION_LIST, await get(registry, "/organizations"))
    detail = await get(registry, f"/organizations/{directory['owner']['id']}")

    assert [item["name"] for item in listed] == ["Other CSO", "Pourakhi"]
    valid(ORGANIZATION_LIST, detail)
    for service in detail["services"]:
        valid(SERVICE_LIST, service)
    assert detail["organization_identifiers"][0]["identifier"] == "12345"
    assert [s["name"] for s in detail["services"]] == ["Returnee shelter"]


async def test_taxonomies_and_terms_validate(registry: Registry) -> None:
    taxonomies = valid_page(TAXONOMY, await get(registry, "/taxonomies"))
    terms = valid_page(TAXONOMY_TERM, await get(registry, "/taxonomy_terms", per_page=100))
    protection = next(term for term in terms if term["code"] == "protection")
    children = await get(registry, "/taxonomy_terms", parent_id=protection["id"])

    assert taxonomies[0]["version"]
    assert {term["code"] for term in children["contents"]} >= {
        "protection.gbv", "protection.anti_trafficking", "protection.child_protection",
    }
    assert protection["names"]["ar"] == "الحماية"
    assert protection["iasc_cluster"] == "Protection"


async def test_confidential_location_is_hidden_outside_its_organisation(
    registry: Registry, directory: dict[str, dict[str, Any]]
) -> None:
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
    assert hidden["confidential"] is True
    assert "latitude" not in hidden
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
async def test_bad_requests_are_problems(
    registry: Registry, path: str, params: dict[str, Any], status: int
) -> None:
    response = await registry.client.get(
        f"/v1/hsds{path}", params=params, headers=registry.headers(uuid.uuid4(), CASEWORKER)
    )

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_hsds_api_needs_a_token(registry: Registry) -> None:
    assert (await registry.client.get("/v1/hsds/services")).status_code == 401


# --- a third-party publisher's data, imported and read back ----------------------------------

OPEN_ELIGIBILITY_ID, COUNCIL_TAXONOMY_ID = str(uuid.uuid4()), str(uuid.uuid4())
FOOD_TERM_ID, WELCOME_TERM_ID = str(uuid.uuid4()), str(uuid.uuid4())
ORGANIZATION_ID, FOOD_BANK_ID, CAFE_ID = (str(uuid.uuid4()) for _ in range(3))
HALL_ID, CAFE_PLACE_ID = str(uuid.uuid4()), str(uuid.uuid4())


def _id() -> str:
    return str(uuid.uuid4())


def _located(location_id: str, name: str, address: str, *accessibility: str) -> dict[str, Any]:
    return {"id": _id(), "location": {
        "accessibility": [{"id": _id(), "location_id": location_id, "description": text}
                          for text in accessibility],
        "id": location_id, "location_type": "physical", "name": name, "latitude": 53.4794,
        "longitude": -2.2453, "addresses": [{
            "id": _id(), "location_id": location_id, "address_1": address, "city": "Manchester",
            "state_province": "", "postal_code": "M1 1AA", "country": "GB",
            "address_type": "physical",
        }],
    }}


def _attribute(service_id: str, term_id: str, code: str, name: str, taxonomy: str,
               taxonomy_id: str) -> dict[str, Any]:
    return {"id": _id(), "link_id": service_id, "link_type": "service",
            "taxonomy_term_id": term_id, "taxonomy_term": {
                "id": term_id, "code": code, "name": name, "description": "",
                "taxonomy": taxonomy, "taxonomy_id": taxonomy_id}}


def publisher_dataset() -> list[dict[str, Any]]:
    """As an Open Referral publisher writes it: no organisation country (HSDS has none), its
    own taxonomies, HSDS times and the tables around a service."""
    return [{
        "id": ORGANIZATION_ID, "name": "Refugee Action Manchester", "alternate_name": "RAM",
        "description": "Advice and support for refugees.", "website": "https://example.org",
        "services": [{
            "id": FOOD_BANK_ID, "name": "Community food bank", "status": "active",
            "description": "Food parcels for families, no questions asked.",
            "attributes": [_attribute(FOOD_BANK_ID, FOOD_TERM_ID, "102-01", "Food pantry",
                                      "Open Eligibility", OPEN_ELIGIBILITY_ID)],
            "schedules": [{"id": _id(), "service_id": FOOD_BANK_ID, "freq": "WEEKLY",
                           "byday": "MO,WE", "opens_at": "10:00:00", "closes_at": "13:30:00"}],
            "languages": [{"id": _id(), "name": "Ukrainian", "code": "uk"}],
            "cost_options": [{"id": _id(), "option": "Parcel", "currency": "GBP", "amount": 0}],
            "required_documents": [{"id": _id(), "document": "Referral letter"}],
            "service_areas": [{"id": _id(), "name": "Greater Manchester"}],
            "contacts": [{"id": _id(), "name": "Food bank desk", "email": "food@example.org"}],
            "phones": [{"id": _id(), "number": "+44 161 000 0000"}],
            "service_at_locations": [_located(HALL_ID, "Church hall", "1 Oxford Road",
                                              "Step-free entrance")],
        }, {
            "id": CAFE_ID, "name": "Welcome cafe", "status": "active",
            "description": "A place to meet neighbours and get advice.",
            "attributes": [_attribute(CAFE_ID, WELCOME_TERM_ID, "WC-1", "Welcome",
                                      "Manchester council services", COUNCIL_TAXONOMY_ID)],
            "cost_options": [{"id": _id(), "option": "Session", "currency": "GBP",
                              "amount": 5}],
            "service_at_locations": [_located(CAFE_PLACE_ID, "Cafe", "2 Market Street")],
        }],
    }]


def publisher_report(dry_run: bool) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        "organizations": {"created": 1, "updated": 0, "unchanged": 0},
        "services": {"created": 2, "updated": 0, "unchanged": 0}, "withdrawn": 0,
        "warnings": [
            {"kind": "country_derived", "path": "[0]",
             "detail": "country GB, from the addresses of its services' locations"},
            {"kind": "uncategorised", "path": "[0].services[1]",
             "detail": "no term of Waymark's taxonomy, nor one the crosswalk maps: found by "
             "words and place only"},
        ],
        "not_kept": {"address.postal_code": 2, "organization.alternate_name": 1},
    }


async def post_dataset(
    registry: Registry, content: bytes, content_type: str, **params: Any
) -> dict[str, Any]:
    response = await registry.client.post(
        "/v1/hsds/dataset", content=content, params=params,
        headers={**registry.network_admin, "Content-Type": content_type},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def export_dataset(registry: Registry, accept: str = "application/json") -> bytes:
    response = await registry.client.get(
        "/v1/hsds/dataset", headers={**registry.network_admin, "Accept": accept}
    )
    assert response.status_code == 200, response.text
    return response.content


async def test_a_publishers_json_imports_after_a_dry_run_and_reads_back(
    any_registry: Registry
) -> None:
    registry = any_registry
    content = json.dumps(publisher_dataset()).encode()

    dry_run = await post_dataset(registry, content, "application/json", dry_run="true")
    after_dry_run = await get(registry, "/services")
    events_after_dry_run = await registry.outbox()
    report = await post_dataset(registry, content, "application/json")
    food = valid(SERVICE, await get(registry, f"/services/{FOOD_BANK_ID}"))
    cafe = valid(SERVICE, await get(registry, f"/services/{CAFE_ID}"))
    organizations = valid_page(ORGANIZATION_LIST, await get(registry, "/organizations"))
    taxonomies = valid_page(TAXONOMY, await get(registry, "/taxonomies"))
    terms = valid_page(TAXONOMY_TERM, await get(registry, "/taxonomy_terms", per_page=100))

    assert dry_run == publisher_report(dry_run=True)
    assert after_dry_run["total_items"] == 0
    assert events_after_dry_run == []
    assert report == publisher_report(dry_run=False)
    assert organizations[0]["country"] == "GB"
    assert [taxonomy["name"] for taxonomy in taxonomies][1:] == [
        "Open Eligibility", "Manchester council services",
    ]
    assert [(term["id"], term["taxonomy_id"]) for term in terms][-2:] == [
        (FOOD_TERM_ID, OPEN_ELIGIBILITY_ID), (WELCOME_TERM_ID, COUNCIL_TAXONOMY_ID),
    ]
    # The Open Eligibility term is kept and mapped to Waymark's category by the crosswalk.
    assert food["categories"] == ["food_cash.food"]
    assert [(a["taxonomy_term"]["taxonomy"], a["taxonomy_term"].get("code"))
            for a in food["attributes"]] == [
        ("Waymark migrant services", "food_cash.food"), ("Open Eligibility", "102-01"),
    ]
    assert food["attributes"][1]["taxonomy_term_id"] == FOOD_TERM_ID
    assert (food["schedules"][0]["opens_at"], food["schedules"][0]["closes_at"]) == (
        "10:00:00", "13:30:00",
    )
    assert food["free_of_charge"] is True
    assert food["cost_options"][0]["amount"] == 0
    assert [d["document"] for d in food["required_documents"]] == ["Referral letter"]
    assert [a["name"] for a in food["service_areas"]] == ["Greater Manchester"]
    assert [c["email"] for c in food["contacts"]] == ["food@example.org"]
    assert [p["number"] for p in food["phones"]] == ["+44 161 000 0000"]
    assert food["service_at_locations"][0]["location"]["accessibility"][0]["description"] == (
        "Step-free entrance"
    )
    # A service of no known category is imported uncategorised, its own term kept.
    assert cafe["categories"] == []
    assert cafe["free_of_charge"] is False
    assert [a["taxonomy_term"]["name"] for a in cafe["attributes"]] == ["Welcome"]
    # Found by its languages, and by words and place.
    for params, found in (({"language": "uk"}, FOOD_BANK_ID),
                          ({"q": "neighbours", "country": "GB"}, CAFE_ID)):
        searched = await registry.client.get(
            "/v1/services", params=params, headers=registry.headers(None, VIEWER)
        )
        assert [item["id"] for item in searched.json()["items"]] == [found], params


async def test_the_export_of_a_publishers_data_imports_back_unchanged(registry: Registry) -> None:
    await post_dataset(registry, json.dumps(publisher_dataset()).encode(), "application/json")
    await registry.client.patch(
        f"/v1/organizations/{ORGANIZATION_ID}", json={"languages": ["en", "uk"]},
        headers=registry.network_admin,
    )
    before = len(await registry.outbox())

    as_json = await export_dataset(registry)
    as_package = await export_dataset(registry, "application/zip")
    from_json = await post_dataset(registry, as_json, "application/json")
    from_package = await post_dataset(registry, as_package, "application/zip")

    assert json.loads(as_json)[0]["languages"] == ["en", "uk"]
    for report in (from_json, from_package):
        assert report["organizations"] == {"created": 0, "updated": 0, "unchanged": 1}
        assert report["services"] == {"created": 0, "updated": 0, "unchanged": 2}
        assert report["warnings"] == [{"kind": "uncategorised", "path": "[0].services[1]",
                                       "detail": report["warnings"][0]["detail"]}]
    assert len(await registry.outbox()) == before


def _csv(header: str, *rows: str) -> str:
    return "\r\n".join((header, *rows)) + "\r\n"


def publisher_package() -> bytes:
    """The same data as a tabular package in the specification's layout, its files in a folder
    its datapackage.json names, with tables and columns the directory does not keep."""
    files = {
        "organizations.csv": _csv("id,name,alternate_name,description,website",
                                  f"{ORGANIZATION_ID},Refugee Action Manchester,RAM,Advice,"),
        "services.csv": _csv(
            "id,organization_id,program_id,name,description,status",
            f"{FOOD_BANK_ID},{ORGANIZATION_ID},,Community food bank,Food parcels,active",
            f"{CAFE_ID},{ORGANIZATION_ID},,Welcome cafe,Meet neighbours,active",
        ),
        "locations.csv": _csv("id,location_type,name,latitude,longitude",
                              f"{HALL_ID},physical,Church hall,53.4794,-2.2453",
                              f"{CAFE_PLACE_ID},physical,Cafe,53.4810,-2.2400"),
        "addresses.csv": _csv("id,location_id,address_1,city,state_province,postal_code,country",
                              f"{_id()},{HALL_ID},1 Oxford Road,Manchester,,M1 1AA,GB",
                              f"{_id()},{CAFE_PLACE_ID},2 Market Street,Manchester,,M1 1AB,GB"),
        "service_at_location.csv": _csv("id,service_id,location_id,description",
                                        f"{_id()},{FOOD_BANK_ID},{HALL_ID},",
                                        f"{_id()},{CAFE_ID},{CAFE_PLACE_ID},"),
        "taxonomies.csv": _csv("id,name,description,uri,version",
                               f"{OPEN_ELIGIBILITY_ID},Open Eligibility,,,",
                               f"{COUNCIL_TAXONOMY_ID},Manchester council services,,,"),
        "taxonomy_terms.csv": _csv(
            "id,code,name,description,parent_id,taxonomy,language,taxonomy_id,term_uri",
            f"{FOOD_TERM_ID},102-01,Food pantry,,,,,{OPEN_ELIGIBILITY_ID},",
            f"{WELCOME_TERM_ID},WC-1,Welcome,,,,,{COUNCIL_TAXONOMY_ID},",
        ),
        "attributes.csv": _csv("id,link_id,taxonomy_term_id,link_type,link_entity,value",
                               f"{_id()},{FOOD_BANK_ID},{FOOD_TERM_ID},service,service,",
                               f"{_id()},{CAFE_ID},{WELCOME_TERM_ID},service,service,",
                               f"{_id()},{ORGANIZATION_ID},{WELCOME_TERM_ID},organization,,"),
        "schedules.csv": _csv("id,service_id,location_id,freq,byday,opens_at,closes_at",
                              f"{_id()},{FOOD_BANK_ID},,WEEKLY,\"MO,WE\",10:00:00,13:30:00"),
        "languages.csv": _csv("id,service_id,location_id,phone_id,name,code,note",
                              f"{_id()},{FOOD_BANK_ID},,,Ukrainian,uk,"),
        "cost_options.csv": _csv("id,service_id,valid_from,valid_to,option,currency,amount",
                                 f"{_id()},{FOOD_BANK_ID},2026-01-01,,Parcel,GBP,0",
                                 f"{_id()},{CAFE_ID},,,Session,GBP,5"),
        "required_documents.csv": _csv("id,service_id,document,uri",
                                       f"{_id()},{FOOD_BANK_ID},Referral letter,"),
        "phones.csv": _csv("id,location_id,service_id,organization_id,number",
                           f"{_id()},,{FOOD_BANK_ID},,+44 161 000 0000",
                           f"{_id()},{HALL_ID},,,+44 161 000 0001"),
        "accessibility.csv": _csv("id,location_id,description",
                                  f"{_id()},{HALL_ID},Step-free entrance"),
        "programs.csv": _csv("id,organization_id,name,description",
                             f"{_id()},{ORGANIZATION_ID},Welcome programme,"),
    }
    names = {"addresses.csv": "address", "taxonomies.csv": "taxonomy",
             "accessibility.csv": "accessibility", "service_at_location.csv":
             "service_at_location"}
    descriptor = {"name": "ram", "profile": "tabular-data-package", "resources": [
        {"name": names.get(file, file.removesuffix(".csv").removesuffix("s")),
         "path": f"data/{file}", "profile": "tabular-data-resource"}
        for file in files
    ]}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("datapackage.json", json.dumps(descriptor))
        for file, text in files.items():
            archive.writestr(f"data/{file}", text)
    return buffer.getvalue()


async def test_a_publishers_package_imports_with_its_report_and_reads_back(
    registry: Registry
) -> None:
    report = await post_dataset(registry, publisher_package(), "application/zip")
    food = valid(SERVICE, await get(registry, f"/services/{FOOD_BANK_ID}"))
    cafe = valid(SERVICE, await get(registry, f"/services/{CAFE_ID}"))

    assert report == {**publisher_report(dry_run=False), "not_kept": {
        "address.postal_code": 2, "attribute": 1, "organization.alternate_name": 1, "phone": 1,
        "program": 1,
    }}
    assert food["categories"] == ["food_cash.food"]
    assert food["attributes"][1]["taxonomy_term"]["taxonomy"] == "Open Eligibility"
    assert food["schedules"][0]["opens_at"] == "10:00:00"
    assert food["cost_options"][0]["valid_from"] == "2026-01-01"
    assert [language["code"] for language in food["languages"]] == ["uk"]
    assert [d["document"] for d in food["required_documents"]] == ["Referral letter"]
    assert [p["number"] for p in food["phones"]] == ["+44 161 000 0000"]
    [hall] = [sal["location"] for sal in food["service_at_locations"]]
    assert [a["description"] for a in hall["accessibility"]] == ["Step-free entrance"]
    assert cafe["categories"] == []
    assert cafe["free_of_charge"] is False
    assert cafe["attributes"][0]["taxonomy_term"]["taxonomy"] == "Manchester council services"
