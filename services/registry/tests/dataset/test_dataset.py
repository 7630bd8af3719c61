"""Bulk export and import of the directory as an HSDS JSON dataset and as an HSDS tabular
data package (CSV files in a zip)."""

import copy
import csv
import io
import json
import re
import uuid
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.registry.tests.conftest import Registry
from waymark_kernel.auth import ORG_ADMIN, VIEWER
from waymark_registry.dataset import service as dataset_service
from waymark_registry.dataset import tabular
from waymark_registry.dataset.service import ANALYZED_FROM

SAFE_HOUSE = {
    "name": "Refuge of hope", "address": "Lane 4", "city": "Amman", "admin_area": "Amman",
    "country": "JO", "latitude": 31.9539, "longitude": 35.9106, "confidential": True,
}
CLINIC: dict[str, Any] = {
    "name": "Clinic", "city": "Zarqa", "country": "JO", "latitude": 32.07, "longitude": 36.09,
}


@pytest.fixture
async def source(registry: Registry) -> dict[str, Any]:
    return await fill(registry)


async def fill(registry: Registry) -> dict[str, Any]:
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


async def export(registry: Registry) -> list[dict[str, Any]]:
    response = await registry.client.get("/v1/hsds/dataset", headers=registry.network_admin)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def import_(
    registry: Registry, dataset: str | list[dict[str, Any]], status: int = 200
) -> dict[str, Any]:
    text = dataset if isinstance(dataset, str) else json.dumps(dataset, indent=1)
    response = await registry.client.post(
        "/v1/hsds/dataset", content=text.encode(), headers=registry.network_admin
    )
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def without_times(dataset: list[dict[str, Any]]) -> list[dict[str, Any]]:
    dataset = copy.deepcopy(dataset)
    for organization in dataset:
        for service in organization["services"]:
            service.pop("last_modified")
    return dataset


async def test_round_trip_into_an_empty_directory_on_sqlite(
    registry: Registry, source: dict[str, Any], sqlite_registry: Registry
) -> None:
    dataset = await export(registry)

    report = await import_(sqlite_registry, dataset)
    again = await import_(sqlite_registry, dataset)

    assert report == {
        "dry_run": False,
        "organizations": {"created": 2, "updated": 0, "unchanged": 0},
        "services": {"created": 2, "updated": 0, "unchanged": 0},
        "withdrawn": 0, "warnings": [], "not_kept": {},
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


async def test_export_hides_confidential_locations_and_reimport_keeps_them(
    registry: Registry, source: dict[str, Any]
) -> None:
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


async def test_changes_are_updated_with_their_events(
    registry: Registry, source: dict[str, Any]
) -> None:
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


async def test_postgresql_a_large_import_leaves_the_planner_knowing_the_directory(
    registry: Registry, database_url: str
) -> None:
    """Searches right after a bulk import are planned for the rows it wrote, not for empty
    tables, and the tables it wrote were vacuumed so that their pages can be read from the index
    alone (autovacuum, where it is on, may take minutes). Whether VACUUM may mark a page
    all-visible depends on the oldest transaction of the whole server, which other databases'
    work holds back, so the test checks that the import vacuumed, not the visibility map."""
    dataset = [{
        "id": str(uuid.uuid4()), "name": f"Provider {number}", "country": "JO",
        "services": [
            {"id": str(uuid.uuid4()), "name": f"Clinic {number}-{each}", "status": "active",
             "categories": ["health"], "service_at_locations": [{"id": str(uuid.uuid4()),
             "location": {"id": str(uuid.uuid4()), "latitude": 31.95, "longitude": 35.93,
                          "addresses": [{"id": str(uuid.uuid4()), "address_1": "",
                                         "city": "Amman", "state_province": "",
                                         "postal_code": "", "country": "JO",
                                         "address_type": "physical"}]}}]}
            for each in range(ANALYZED_FROM // 10)
        ],
    } for number in range(10)]
    await import_(registry, dataset)

    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        planned: dict[str, float] = dict(await connection.fetch(  # type: ignore[arg-type]  # (name, figure) records
            "SELECT relname, reltuples FROM pg_class WHERE relname = ANY($1)",
            ["registry_services", "registry_service_search", "registry_service_documents"],
        ))
        vacuumed: dict[str, int] = dict(await connection.fetch(  # type: ignore[arg-type]  # (name, count) records
            "SELECT relname, vacuum_count FROM pg_stat_user_tables WHERE relname = ANY($1)",
            ["registry_service_locations", "registry_service_search", "registry_service_listing"],
        ))
    finally:
        await connection.close()
    assert planned == dict.fromkeys(planned, float(ANALYZED_FROM))
    assert len(planned) == 3
    assert len(vacuumed) == 3, vacuumed
    assert all(count >= 1 for count in vacuumed.values()), vacuumed


async def test_every_invalid_object_is_reported_and_nothing_changes(
    registry: Registry, source: dict[str, Any]
) -> None:
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
    for error in problem["errors"]:  # the object's opening line, the nested one's if meant
        assert lines[error["line"] - 1].strip() in ("{", '"location": {', '"taxonomy_term": {')
    latitude = next(e for e in problem["errors"] if e["reason"].startswith("locations.0.lat"))
    location_id = shelter["service_at_locations"][0]["location"]["id"]
    assert lines[latitude["line"]].strip() == f'"id": "{location_id}",'
    assert len(await registry.outbox()) == before[0]
    assert await export(registry) == before[1]


@pytest.mark.parametrize(("text", "line", "reason"), [
    ('[\n  {"id": 1,\n  }\n]', 3, "not valid JSON"),
    ('{"organizations": []}', 1, "give an array"),
    ("[1, 2]", 1, "an organization is a JSON object"),
    ('[]\n[]', 2, "extra data"),
    ("[" * 100_000, 1, "nested too deeply"),
])
async def test_files_that_are_not_hsds_datasets_are_refused(
    registry: Registry, text: str, line: int, reason: str
) -> None:
    problem = await import_(registry, text, 422)

    assert problem["errors"][0]["line"] == line
    assert problem["errors"][0]["reason"].startswith(reason)


async def test_a_service_cannot_be_moved_to_another_organisation_by_import(
    registry: Registry, source: dict[str, Any]
) -> None:
    dataset = await export(registry)
    dataset[0]["services"].append(dataset[1]["services"].pop())

    problem = await import_(registry, dataset, 422)

    assert [error["reason"] for error in problem["errors"]] == [
        "id: this service belongs to another organisation",
    ]


async def test_names_stay_unique_per_country(registry: Registry, source: dict[str, Any]) -> None:
    dataset = await export(registry)
    dataset[1]["name"] = source["society"]["name"]
    dataset.append({
        "id": str(uuid.uuid4()), "name": "Second society", "country": "JO",
        "type": "national_society", "description": "",
    })

    problem = await import_(registry, dataset, 422)

    assert {error["reason"].split(":")[0] for error in problem["errors"]} == {"name", "type"}


async def test_only_a_network_admin_exports_and_imports(
    registry: Registry, source: dict[str, Any]
) -> None:
    admin = registry.headers(source["society"]["id"], ORG_ADMIN)

    exported = await registry.client.get("/v1/hsds/dataset", headers=admin)
    imported = await registry.client.post("/v1/hsds/dataset", content=b"[]", headers=admin)

    assert (exported.status_code, imported.status_code) == (403, 403)


# --- the tabular data package ------------------------------------------------------------

ZIP = "application/zip"


async def export_package(registry: Registry) -> dict[str, str]:
    response = await registry.client.get(
        "/v1/hsds/dataset", headers={**registry.network_admin, "Accept": ZIP}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == ZIP
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def zipped(files: Mapping[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


async def import_package(
    registry: Registry, files: dict[str, str] | bytes, status: int = 200
) -> dict[str, Any]:
    response = await registry.client.post(
        "/v1/hsds/dataset", content=files if isinstance(files, bytes) else zipped(files),
        headers={**registry.network_admin, "Content-Type": ZIP},
    )
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def table(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def with_table(files: dict[str, str], name: str, rows: list[dict[str, str]]) -> dict[str, str]:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return {**files, name: text.getvalue()}


async def state(registry: Registry) -> tuple[list[dict[str, Any]], int]:
    """The directory and the number of events recorded: a refused import changes neither."""
    return await export(registry), len(await registry.outbox())


async def test_package_round_trip_into_an_empty_directory(
    sqlite_registry: Registry, registry: Registry
) -> None:
    filled = await fill(sqlite_registry)
    original = await export(sqlite_registry)
    files = await export_package(sqlite_registry)

    report = await import_package(registry, files)
    again = await import_package(registry, files)

    assert report == {
        "dry_run": False,
        "organizations": {"created": 2, "updated": 0, "unchanged": 0},
        "services": {"created": 2, "updated": 0, "unchanged": 0},
        "withdrawn": 0, "warnings": [], "not_kept": {},
    }
    assert again["services"] == {"created": 0, "updated": 0, "unchanged": 2}
    assert without_times(await export(registry)) == without_times(original)
    events = await registry.outbox()
    assert sorted(event for event, _ in events) == (
        ["organization.created"] * 2 + ["service.created"] * 2
    )
    shelter = next(
        data for _, data in events if data.get("service_id") == filled["shelter"]["id"]
    )
    assert (shelter["countries"], shelter["categories"], shelter["organization_id"]) == (
        ["JO"], ["shelter.safe_house", "protection.gbv"], filled["society"]["id"],
    )
    for params in (
        {"q": "shelter", "country": "JO", "category": "shelter"},
        {"lat": CLINIC["latitude"], "lon": CLINIC["longitude"], "radius_km": 5,
         "category": "shelter"},
    ):
        found = await registry.client.get(
            "/v1/services", params=params, headers=registry.headers(None, VIEWER)
        )
        assert [service["name"] for service in found.json()["items"]] == ["Women's shelter"]


TABLE_SCHEMA_TYPES = {"string", "number", "integer", "boolean", "object", "array", "date",
                      "time", "datetime", "year", "yearmonth", "duration", "geopoint",
                      "geojson", "any"}


def assert_a_tabular_data_package(descriptor: dict[str, Any], files: dict[str, str]) -> None:
    """The rules of a Frictionless tabular data package that a descriptor can break."""
    names = [resource["name"] for resource in descriptor["resources"]]
    assert len(set(names)) == len(names)
    assert re.fullmatch(r"[a-z0-9._-]+", descriptor["name"])
    for resource in descriptor["resources"]:
        assert re.fullmatch(r"[a-z0-9._-]+", resource["name"])
        assert resource["profile"] == "tabular-data-resource"
        assert resource["path"] in files
        fields = {field["name"]: field["type"] for field in resource["schema"]["fields"]}
        assert set(fields.values()) <= TABLE_SCHEMA_TYPES, resource["name"]
        assert resource["schema"].get("primaryKey", next(iter(fields))) in fields
        for key in resource["schema"].get("foreignKeys", []):
            referred = next(r for r in descriptor["resources"]
                            if r["name"] == key["reference"]["resource"])
            assert key["fields"] in fields
            assert key["reference"]["fields"] in {f["name"] for f in referred["schema"]["fields"]}


async def test_package_tables_and_descriptor_follow_hsds(
    registry: Registry, source: dict[str, Any]
) -> None:
    files = await export_package(registry)

    descriptor = json.loads(files["datapackage.json"])
    resources = {resource["name"]: resource for resource in descriptor["resources"]}
    services = table(files["services.csv"])
    attributes = table(files["attributes.csv"])
    addresses = table(files["addresses.csv"])
    translations = table(files["translations.csv"])

    assert descriptor["profile"] == "tabular-data-package"
    assert_a_tabular_data_package(descriptor, files)
    # Every table of the specification the directory keeps is where and as it lays it out: the
    # same resource name, path and columns; the profile's own columns declared as such.
    specification = {resource["name"]: resource for resource in json.loads(
        (Path(__file__).parent.parent / "data" / "hsds" / "datapackage.json").read_text()
    )["resources"]}
    for name, resource in resources.items():
        if name == "translation":  # the profile's own table
            continue
        spec = specification[name]
        assert resource["path"] == spec["path"], name
        spec_fields = {field["name"] for field in spec["schema"]["fields"]}
        profile = {field["name"] for field in resource["schema"]["fields"]
                   if field.get("description") == "Waymark profile field"}
        assert {field["name"] for field in resource["schema"]["fields"]} - profile \
            <= spec_fields, name
    for name, resource in resources.items():
        assert files[resource["path"]].splitlines()[0].split(",") == [
            field["name"] for field in resource["schema"]["fields"]
        ], name
    assert {"organization", "service", "location", "service_at_location", "address", "phone",
            "schedule", "language", "taxonomy", "taxonomy_term", "attribute",
            "organization_identifier"} <= set(resources)
    shelter = next(s for s in services if s["id"] == source["shelter"]["id"])
    assert (shelter["status"], shelter["populations"]) == ("active", '["women_at_risk"]')
    assert [a["taxonomy_term_id"] for a in attributes if a["link_id"] == shelter["id"]] == [
        next(t["id"] for t in table(files["taxonomy_terms.csv"]) if t["code"] == code)
        for code in ("shelter.safe_house", "protection.gbv")
    ]
    assert {a["city"] for a in addresses} == {"Zarqa", "Amman", ""} - {""}
    assert translations == [{"service_id": shelter["id"], "field": "name", "language": "ar",
                             "text": "مأوى النساء"}]
    profile_fields = {f["name"] for f in resources["service"]["schema"]["fields"]
                      if "description" in f}
    assert {"populations", "migration_stages", "capacity"} <= profile_fields


async def test_package_hides_confidential_locations(
    registry: Registry, source: dict[str, Any]
) -> None:
    files = await export_package(registry)

    text = "".join(files.values())

    for secret in ("Refuge of hope", "Lane 4", "31.9539", "35.9106"):
        assert secret not in text
    assert (await import_package(registry, files))["services"]["unchanged"] == 2


async def test_a_missing_required_column_is_refused(
    registry: Registry, source: dict[str, Any]
) -> None:
    files = await export_package(registry)
    rows = [{k: v for k, v in row.items() if k != "name"} for row in table(files["services.csv"])]
    before = await state(registry)

    problem = await import_package(registry, with_table(files, "services.csv", rows), 422)

    assert problem["errors"] == [{"file": "services.csv", "line": 1, "path": "",
                                  "reason": "the column name is missing"}]
    assert await state(registry) == before


async def test_every_bad_row_is_reported_with_its_file_and_line(
    registry: Registry, source: dict[str, Any]
) -> None:
    files = await export_package(registry)
    services = table(files["services.csv"])
    services[1]["response_time_hours"] = "soon"
    services[0]["capacity"] = "plenty"
    locations = table(files["locations.csv"])
    locations[0]["latitude"] = "97"
    links = table(files["service_at_location.csv"])
    links[1]["location_id"] = str(uuid.uuid4())
    bad = with_table(with_table(with_table(
        files, "services.csv", services), "locations.csv", locations),
        "service_at_location.csv", links)
    before = await state(registry)

    problem = await import_package(registry, bad, 422)

    assert problem["type"].endswith("/invalid-dataset")
    assert {(e["file"], e["line"], e["reason"].split(":")[0]) for e in problem["errors"]} == {
        ("services.csv", 3, "response_time_hours"),
        ("service_at_location.csv", 3, "location_id"),
    }
    # Once the rows are well-formed, the objects are checked as the JSON's are.
    services[1]["response_time_hours"] = ""
    bad = with_table(with_table(files, "services.csv", services), "locations.csv", locations)

    problem = await import_package(registry, bad, 422)

    assert {(e["file"], e["line"], e["reason"].split(":")[0]) for e in problem["errors"]} == {
        ("services.csv", 2, "capacity"), ("locations.csv", 2, "locations.0.latitude"),
    }
    assert await state(registry) == before


def zip_bomb(file: str, header: bytes, line: bytes, size: int) -> bytes:
    """A small zip of `file`: the header, then `line` over and over up to `size` bytes."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open(file, "w", force_zip64=True) as member,
    ):
        member.write(header)
        block = line * (2**20 // len(line))
        for _ in range(size // len(block)):
            member.write(block)
    return buffer.getvalue()


async def test_a_zip_bomb_is_refused_as_it_is_unpacked(
    registry: Registry, source: dict[str, Any]
) -> None:
    bomb = zip_bomb("services.csv", b"id,organization_id,name\n", b"0" * 2**16 + b"\n",
                    513 * 2**20)  # past the 512 MiB limit
    before = await state(registry)

    problem = await import_package(registry, bomb, 413)

    assert len(bomb) < 3 * 2**20  # a small upload
    assert problem["type"].endswith("/dataset-too-large")
    assert await state(registry) == before


async def test_a_package_of_too_many_lines_is_refused(
    registry: Registry, source: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tabular, "MAX_PACKAGE_LINES", 100_000)
    bomb = zip_bomb("organizations.csv", b"id,name\n", b"\n", 2**20)  # a mebibyte of newlines
    before = await state(registry)

    problem = await import_package(registry, bomb, 413)

    assert problem["detail"] == "The package has more than 100,000 lines; nothing was imported."
    assert await state(registry) == before


async def test_a_file_of_many_bad_rows_gets_a_short_answer(
    registry: Registry, source: dict[str, Any]
) -> None:
    bad_rows = "".join(f"{number}\n" for number in range(3000))  # one cell for two columns
    before = await state(registry)

    problem = await import_package(registry, {
        "organization.csv": "id,name\n" + bad_rows, "service.csv": "id,organization_id,name\n",
    }, 422)

    assert problem["detail"] == (
        "3000 problem(s) in the file (the first 1000 are listed); nothing was imported."
    )
    assert len(problem["errors"]) == 1000
    assert problem["errors"][0] == {
        "file": "organization.csv", "line": 2, "path": "", "reason": "1 cells for 2 columns",
    }
    assert await state(registry) == before


async def test_a_line_longer_than_any_row_is_refused_before_it_is_held(
    registry: Registry, source: dict[str, Any]
) -> None:
    bomb = zip_bomb("organizations.csv", b"id,name\n", b"x" * 2**20, 9 * 2**20)

    problem = await import_package(registry, bomb, 422)

    assert problem["errors"][0] == {
        "file": "organizations.csv", "line": 2, "path": "",
        "reason": "not valid CSV: a line is longer than 8 Mi characters",
    }


@pytest.mark.parametrize("name", ["../organizations.csv", "/etc/organizations.csv",
                                  "tables/../../services.csv"])
async def test_a_name_outside_the_package_refuses_the_zip(
    registry: Registry, source: dict[str, Any], name: str
) -> None:
    files = await export_package(registry)
    before = await state(registry)

    problem = await import_package(registry, {**files, name: files["organizations.csv"]}, 422)

    assert "outside the package" in problem["detail"]
    assert await state(registry) == before


async def test_an_upload_that_is_not_a_zip_is_refused(registry: Registry) -> None:
    problem = await import_package(registry, b"organizations.csv", 422)

    assert problem["detail"] == "The upload is not a zip file."


async def test_a_location_id_of_another_service_is_a_conflict(
    registry: Registry, source: dict[str, Any]
) -> None:
    dataset = await export(registry)
    taken = dataset[0]["services"][0]["service_at_locations"][0]["location"]["id"]
    copy_ = copy.deepcopy(dataset[1]["services"][0])
    copy_["id"] = str(uuid.uuid4())
    copy_["service_at_locations"] = [{"id": str(uuid.uuid4()), "location": {
        "id": taken, "addresses": [{"city": "Irbid", "country": "JO"}],
    }}]
    before = len(await registry.outbox())

    problem = await import_(registry, [{**dataset[1], "services": [copy_]}], 409)

    assert "location id" in problem["detail"]
    assert len(await registry.outbox()) == before


def provider(services: int) -> dict[str, Any]:
    """A new organisation of Jordan with `services` new services of one place each."""
    return {"id": str(uuid.uuid4()), "name": unique_provider(), "country": "JO", "services": [
        {"id": str(uuid.uuid4()), "name": f"Clinic {number}", "status": "active",
         "categories": ["health"], "service_at_locations": [{"id": str(uuid.uuid4()), "location": {
             "id": str(uuid.uuid4()), "addresses": [{"city": "Zarqa", "country": "JO"}],
         }}]}
        for number in range(services)
    ]}


def unique_provider() -> str:
    return f"Provider {uuid.uuid4().hex[:8]}"


def location_id(service: dict[str, Any]) -> str:
    identifier: str = service["service_at_locations"][0]["location"]["id"]
    return identifier


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Services checked and written two at a time, so that a few make several batches."""
    monkeypatch.setattr(dataset_service, "BATCH", 2)


async def test_an_import_of_several_batches_writes_each_service_and_event_once(
    any_registry: Registry, small_batches: None
) -> None:
    given = provider(5)
    before = len(await any_registry.outbox())

    report = await import_(any_registry, [given])

    assert report["services"] == {"created": 5, "updated": 0, "unchanged": 0}
    events = (await any_registry.outbox())[before:]
    assert [kind for kind, _ in events] == ["organization.created"] + ["service.created"] * 5
    assert {data["service_id"] for _, data in events[1:]} == {s["id"] for s in given["services"]}
    found = await any_registry.client.get(
        "/v1/services", params={"organization_id": given["id"], "limit": 10},
        headers=any_registry.network_admin,
    )
    assert sorted(item["name"] for item in found.json()["items"]) == [
        f"Clinic {number}" for number in range(5)
    ]
    given["services"][3]["name"] = "Clinic 3, renamed"
    again = await import_(any_registry, [given])
    assert again["services"] == {"created": 0, "updated": 1, "unchanged": 4}
    assert (await any_registry.outbox())[len(events) + before:] == [
        ("service.updated", events[4][1]),
    ]


async def test_a_problem_in_a_later_batch_undoes_the_batches_written_before(
    any_registry: Registry, small_batches: None
) -> None:
    given = provider(7)
    given["services"][5]["response_time_hours"] = -3
    before = (len(await any_registry.outbox()), await export(any_registry))

    problem = await import_(any_registry, [given], 422)

    assert [(e["path"], e["reason"].split(":")[0]) for e in problem["errors"]] == [
        ("[0].services[5]", "response_time_hours"),
    ]
    assert len(await any_registry.outbox()) == before[0]
    assert await export(any_registry) == before[1]


async def test_a_location_id_given_again_in_a_later_batch_is_refused_for_both_services(
    any_registry: Registry, small_batches: None
) -> None:
    given = provider(6)
    given["services"][4]["service_at_locations"][0]["location"]["id"] = location_id(
        given["services"][0]
    )
    before = await export(any_registry)

    problem = await import_(any_registry, [given], 422)

    assert [(e["path"], e["reason"]) for e in problem["errors"]] == [
        ("[0].services[0]", "a location id is given more than once"),
        ("[0].services[4]", "a location id is given more than once"),
    ]
    assert await export(any_registry) == before


async def test_a_clash_with_the_directory_in_a_later_batch_still_reports_every_problem(
    registry: Registry, source: dict[str, Any], small_batches: None
) -> None:
    """The clash aborts the database's transaction; the rest of the file is still checked."""
    stored = await export(registry)
    given = provider(6)
    given["services"][2]["service_at_locations"][0]["location"]["id"] = location_id(
        stored[0]["services"][0]
    )
    clashing = copy.deepcopy(given)
    given["services"][5]["categories"] = ["dentistry"]
    before = (len(await registry.outbox()), stored)

    problem = await import_(registry, [given], 422)
    conflict = await import_(registry, [clashing], 409)

    assert [(e["path"], e["reason"].split(":")[0]) for e in problem["errors"]] == [
        ("[0].services[5]", "categories.0"),
    ]
    assert "location id" in conflict["detail"]
    assert len(await registry.outbox()) == before[0]
    assert await export(registry) == before[1]


async def test_an_id_given_twice_is_refused_where_the_file_gives_it_again(
    any_registry: Registry
) -> None:
    """Organisations are checked before services, yet the report follows the file."""
    first, second = provider(1), provider(0)
    second["id"] = first["services"][0]["id"]

    problem = await import_(any_registry, [first, second], 422)

    assert [(e["path"], e["reason"]) for e in problem["errors"]] == [
        ("[1]", "id: given to more than one object"),
    ]


FORMULAS = {
    "organization": "=cmd|' /C calc'!A0",
    "description": '=HYPERLINK("http://evil.example","x")',
    "service": "@SUM(1+1)*cmd|' /C calc'!A0",
    "service_description": "-2+3+cmd|' /C calc'!A0",
    "phone": "+977 1 4270650",
    "quoted": "'=already quoted",
    "apostrophe": "'s-Hertogenbosch walk-in desk",
}


def runs_as_formula(cell: str) -> bool:
    """What a spreadsheet would evaluate: a cell beginning with =, +, -, @, tab or carriage
    return that is not simply a number."""
    try:
        float(cell)
    except ValueError:
        return cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    return False


@settings(max_examples=500, deadline=None)
@given(text=st.text() | st.from_regex(r"\A'*[=+\-@\t\r].*", fullmatch=True))
def test_finding_4_any_text_cell_is_written_without_a_formula_and_read_back_as_it_was(
    text: str
) -> None:
    written = tabular.cell_of(text, "string")

    assert not runs_as_formula(written)
    assert tabular.value_of("string", written) == text


async def test_finding_4_no_csv_cell_of_text_begins_a_formula_and_the_round_trip_changes_nothing(
    sqlite_registry: Registry, registry: Registry
) -> None:
    organization = await sqlite_registry.organization(
        name=FORMULAS["organization"], description=FORMULAS["description"], country="EC",
        phone=FORMULAS["phone"],
    )
    await sqlite_registry.service(
        organization, name=FORMULAS["service"], description=FORMULAS["service_description"],
        categories=["legal.representation"],
        phones=[{"number": FORMULAS["phone"], "description": FORMULAS["quoted"]}],
        locations=[{"name": FORMULAS["apostrophe"], "city": "Quito", "country": "EC",
                    "latitude": -0.1807, "longitude": -78.4678}],
    )
    original = await export(sqlite_registry)
    files = await export_package(sqlite_registry)

    cells = {
        name: [cell for row in csv.reader(io.StringIO(text)) for cell in row]
        for name, text in files.items() if name.endswith(".csv")
    }
    [location] = table(files["locations.csv"])
    imported = await import_package(registry, files)

    assert [cell for found in cells.values() for cell in found if runs_as_formula(cell)] == []
    assert "'" + FORMULAS["organization"] in cells["organizations.csv"]
    assert "'" + FORMULAS["description"] in cells["organizations.csv"]
    assert "'" + FORMULAS["phone"] in cells["phones.csv"]
    assert "''=already quoted" in cells["phones.csv"]
    assert (location["name"], location["longitude"]) == (FORMULAS["apostrophe"], "-78.4678")
    assert imported["services"]["created"] == 1
    assert without_times(await export(registry)) == without_times(original)
