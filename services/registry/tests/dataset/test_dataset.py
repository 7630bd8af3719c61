"""Bulk export and import of the directory as an HSDS JSON dataset."""

import copy
import json
import uuid

import pytest
from waymark_kernel.auth import ORG_ADMIN, VIEWER

SAFE_HOUSE = {
    "name": "Refuge of hope", "address": "Lane 4", "city": "Amman", "admin_area": "Amman",
    "country": "JO", "latitude": 31.9539, "longitude": 35.9106, "confidential": True,
}
CLINIC = {"name": "Clinic", "city": "Zarqa", "country": "JO", "latitude": 32.07, "longitude": 36.09}


@pytest.fixture
async def source(registry):
    society = await registry.organization(
        name="Jordan National Red Crescent Society", type="national_society", country="JO",
        verified=True, email="info@jnrcs.example", phone="+962 6 4773141",
        identifiers=[{"identifier_type": "Royal decree", "identifier": "1947"}],
    )
    shelter = await registry.service(
        society, name="Women's shelter", description="Protected shelter.",
        categories=["shelter.safe_house", "protection.gbv"], languages=["ar", "en"],
        populations=["women_at_risk"], migration_stages=["destination"], capacity="full",
        response_time_hours=12, locations=[CLINIC, SAFE_HOUSE], original_language="en",
        translations=[{"field": "name", "language": "ar", "text": "مأوى النساء"}],
        phones=[{"number": "+962 6 000000", "type": "hotline", "languages": ["ar"]}],
        schedules=[{"byday": ["SU", "MO"], "opens_at": "08:00", "closes_at": "16:00"}],
    )
    cso = await registry.organization(name="Tamkeen", country="JO")
    legal = await registry.service(cso, name="Legal clinic", categories=["legal.representation"])
    return {"society": society, "cso": cso, "shelter": shelter, "legal": legal}


async def export(registry) -> list[dict]:
    response = await registry.client.get("/v1/hsds/dataset", headers=registry.network_admin)
    assert response.status_code == 200, response.text
    return response.json()


async def import_(registry, dataset, status: int = 200) -> dict:
    text = dataset if isinstance(dataset, str) else json.dumps(dataset, indent=1)
    response = await registry.client.post(
        "/v1/hsds/dataset", content=text.encode(), headers=registry.network_admin
    )
    assert response.status_code == status, response.text
    return response.json()


def without_times(dataset: list[dict]) -> list[dict]:
    dataset = copy.deepcopy(dataset)
    for organization in dataset:
        for service in organization["services"]:
            service.pop("last_modified")
    return dataset


async def test_round_trip_into_an_empty_directory_on_sqlite(registry, source, sqlite_registry):
    dataset = await export(registry)

    report = await import_(sqlite_registry, dataset)
    again = await import_(sqlite_registry, dataset)

    assert report == {
        "organizations": {"created": 2, "updated": 0, "unchanged": 0},
        "services": {"created": 2, "updated": 0, "unchanged": 0},
    }
    assert again["services"] == {"created": 0, "updated": 0, "unchanged": 2}
    assert without_times(await export(sqlite_registry)) == without_times(dataset)
    events = [event for event, _ in await sqlite_registry.outbox()]
    assert sorted(events) == ["organization.created"] * 2 + ["service.created"] * 2
    fetched = await sqlite_registry.client.get(
        f"/v1/services/{source['shelter']['id']}",
        headers={**sqlite_registry.headers(None, VIEWER), "Accept-Language": "ar"},
    )
    assert fetched.json()["name"] == "مأوى النساء"
    assert fetched.json()["categories"] == ["shelter.safe_house", "protection.gbv"]


async def test_export_hides_confidential_locations_and_reimport_keeps_them(registry, source):
    dataset = await export(registry)
    text = json.dumps(dataset)

    report = await import_(registry, dataset)
    owner_view = await registry.client.get(
        f"/v1/services/{source['shelter']['id']}",
        headers=registry.headers(source["society"]["id"], ORG_ADMIN),
    )

    for secret in ("Refuge of hope", "Lane 4", "31.9539", "35.9106"):
        assert secret not in text
    assert report["services"] == {"created": 0, "updated": 0, "unchanged": 2}
    assert owner_view.json()["locations"][1] == SAFE_HOUSE


async def test_changes_are_updated_with_their_events(registry, source):
    dataset = await export(registry)
    before = len(await registry.outbox())
    legal = dataset[1]["services"][0]
    legal["name"] = "Legal clinic and representation"
    dataset[0]["website"] = "https://jnrcs.example"

    report = await import_(registry, dataset)

    assert report["organizations"] == {"created": 0, "updated": 1, "unchanged": 1}
    assert report["services"] == {"created": 0, "updated": 1, "unchanged": 1}
    assert [event for event, _ in (await registry.outbox())[before:]] == [
        "organization.updated", "service.updated",
    ]
    fetched = await registry.client.get(
        f"/v1/services/{legal['id']}", headers=registry.headers(None, VIEWER)
    )
    assert fetched.json()["name"] == "Legal clinic and representation"


async def test_every_invalid_object_is_reported_and_nothing_changes(registry, source):
    dataset = await export(registry)
    before = (len(await registry.outbox()), copy.deepcopy(dataset))
    new_org = {"id": str(uuid.uuid4()), "name": "New CSO", "country": "JO", "services": []}
    dataset.append(new_org)
    dataset[0]["country"] = "XX"
    shelter = dataset[0]["services"][0]
    shelter["categories"] = ["dentistry"]
    shelter["service_at_locations"][0]["location"]["latitude"] = 97
    dataset[1]["services"][0]["response_time_hours"] = -3
    dataset[1]["services"].append({**copy.deepcopy(dataset[1]["services"][0]), "name": "Copy"})
    text = json.dumps(dataset, indent=1)

    problem = await import_(registry, text, 422)

    assert problem["type"].endswith("/invalid-dataset")
    reasons = {(error["path"], error["reason"].split(":")[0]) for error in problem["errors"]}
    assert reasons >= {
        ("[0]", "country"), ("[0].services[0]", "categories.0"),
        ("[0].services[0]", "locations.0.latitude"), ("[1].services[0]", "response_time_hours"),
        ("[1].services[1]", "id"),
    }
    lines = text.splitlines()
    for error in problem["errors"]:
        assert lines[error["line"] - 1].strip() == "{"
    assert len(await registry.outbox()) == before[0]
    assert await export(registry) == before[1]


@pytest.mark.parametrize(("text", "line", "reason"), [
    ('[\n  {"id": 1,\n  }\n]', 3, "not valid JSON"),
    ('{"organizations": []}', 1, "give an array"),
    ("[1, 2]", 1, "an organization is a JSON object"),
    ('[]\n[]', 2, "extra data"),
    ("[" * 100_000, 1, "nested too deeply"),
])
async def test_files_that_are_not_hsds_datasets_are_refused(registry, text, line, reason):
    problem = await import_(registry, text, 422)

    assert problem["errors"][0]["line"] == line
    assert problem["errors"][0]["reason"].startswith(reason)


async def test_a_service_cannot_be_moved_to_another_organisation_by_import(registry, source):
    dataset = await export(registry)
    dataset[0]["services"].append(dataset[1]["services"].pop())

    problem = await import_(registry, dataset, 422)

    assert [error["reason"] for error in problem["errors"]] == [
        "id: this service belongs to another organisation",
    ]


async def test_names_stay_unique_per_country(registry, source):
    dataset = await export(registry)
    dataset[1]["name"] = source["society"]["name"]
    dataset.append({
        "id": str(uuid.uuid4()), "name": "Second society", "country": "JO",
        "type": "national_society", "description": "",
    })

    problem = await import_(registry, dataset, 422)

    assert {error["reason"].split(":")[0] for error in problem["errors"]} == {"name", "type"}


async def test_only_a_network_admin_exports_and_imports(registry, source):
    admin = registry.headers(source["society"]["id"], ORG_ADMIN)

    exported = await registry.client.get("/v1/hsds/dataset", headers=admin)
    imported = await registry.client.post("/v1/hsds/dataset", content=b"[]", headers=admin)

    assert (exported.status_code, imported.status_code) == (403, 403)
