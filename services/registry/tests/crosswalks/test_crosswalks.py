"""Crosswalks a network admin uploads and chooses for an import or an HSDS source, beside the
shipped examples."""

import uuid
from typing import Any

import httpx

from services.registry.tests.conftest import FakePublisher, Registry
from waymark_kernel.auth import ORG_ADMIN

CROSSWALKS = "/v1/hsds/crosswalks"
CSV = {"Content-Type": "text/csv"}
COUNCIL = (
    "taxonomy,code,category\r\nLeeds council,ADV,legal.information\r\n"
    "Leeds council,ADV-IMM,legal.migration_procedures\r\n"
)


def council_dataset(organization: str = "Leeds Welcome") -> list[dict[str, Any]]:
    """One service classified only in the council's own taxonomy."""
    service_id, term_id = str(uuid.uuid4()), str(uuid.uuid4())
    return [{
        "id": str(uuid.uuid4()), "name": organization, "country": "GB", "services": [{
            "id": service_id, "name": "Immigration advice", "status": "active",
            "attributes": [{
                "id": str(uuid.uuid4()), "link_id": service_id, "link_type": "service",
                "taxonomy_term_id": term_id, "taxonomy_term": {
                    "id": term_id, "code": "ADV-IMM-2", "name": "Immigration advice",
                    "description": "", "taxonomy": "Leeds council", "taxonomy_id": None,
                },
            }],
        }],
    }]


async def upload(registry: Registry, name: str, text: str, **headers: str) -> httpx.Response:
    return await registry.client.put(f"{CROSSWALKS}/{name}", content=text.encode(),
                                     headers={**registry.network_admin, **CSV, **headers})


async def listed(registry: Registry) -> dict[str, dict[str, Any]]:
    response = await registry.client.get(CROSSWALKS, headers=registry.network_admin)
    assert response.status_code == 200, response.text
    return {crosswalk["name"]: crosswalk for crosswalk in response.json()["items"]}


async def test_the_shipped_examples_are_listed_and_readable(registry: Registry) -> None:
    shown = await listed(registry)
    csv = await registry.client.get(f"{CROSSWALKS}/open_eligibility",
                                    headers=registry.network_admin)

    assert {name for name, crosswalk in shown.items() if crosswalk["shipped"]} == {
        "open_eligibility", "211"
    }
    assert shown["211"]["mappings"] > 0
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.startswith("taxonomy,code,category")


async def test_an_uploaded_crosswalk_maps_an_import_chosen_with_it(registry: Registry) -> None:
    plain, chosen = council_dataset(), council_dataset("Leeds Refugee Forum")

    created = await upload(registry, "leeds-council", COUNCIL)
    unmapped = await registry.client.post("/v1/hsds/dataset", json=plain,
                                          headers=registry.network_admin)
    mapped = await registry.client.post(
        "/v1/hsds/dataset", params={"crosswalk": "leeds-council"}, json=chosen,
        headers=registry.network_admin,
    )
    services = [
        (await registry.client.get(f"/v1/services/{dataset[0]['services'][0]['id']}",
                                   headers=registry.network_admin)).json()
        for dataset in (plain, chosen)
    ]

    assert created.status_code == 201
    assert created.headers["ETag"] == '"1"'
    assert created.headers["Location"] == f"{CROSSWALKS}/leeds-council"
    assert created.json()["mappings"] == 2
    assert [w["kind"] for w in unmapped.json()["warnings"]] == ["uncategorised"]
    assert mapped.status_code == 200
    assert mapped.json()["warnings"] == []
    assert [service["categories"] for service in services] == [
        [], ["legal.migration_procedures"]
    ]


async def test_a_bad_crosswalk_is_refused_with_its_lines_and_changes_nothing(
    registry: Registry
) -> None:
    await upload(registry, "leeds-council", COUNCIL)
    bad = (
        "taxonomy,code,category\r\nLeeds council,ADV,legal.information\r\n"
        "Leeds council,,legal.information\r\nLeeds council,FOOD,soup\r\n"
    )

    new = await upload(registry, "bradford", bad)
    replaced = await upload(registry, "leeds-council", bad, **{"If-Match": '"1"'})
    headless = await upload(registry, "headless", "Leeds council,ADV,legal.information\r\n")
    csv = await registry.client.get(f"{CROSSWALKS}/leeds-council",
                                    headers=registry.network_admin)

    assert new.status_code == 422
    assert new.headers["content-type"] == "application/problem+json"
    assert [(error["line"], error["reason"]) for error in new.json()["errors"]] == [
        (3, "give a taxonomy and a code"),
        (4, "category: not a code of the taxonomy (GET /v1/taxonomy)"),
    ]
    assert replaced.status_code == 422
    assert len(replaced.json()["errors"]) == 2
    assert headless.status_code == 422
    assert headless.json()["errors"][0]["line"] == 1
    assert set(await listed(registry)) == {"open_eligibility", "211", "leeds-council"}
    assert csv.text == COUNCIL
    assert csv.headers["ETag"] == '"1"'


async def test_replacing_and_deleting_a_crosswalk_needs_its_etag_and_no_source_using_it(
    registry: Registry, publisher: tuple[FakePublisher, str]
) -> None:
    await upload(registry, "leeds-council", COUNCIL)
    admin = registry.network_admin

    unconditional = await upload(registry, "leeds-council", COUNCIL)
    replaced = await upload(registry, "leeds-council", COUNCIL + "Leeds council,FOOD,"
                            "food_cash.food\r\n", **{"If-Match": '"1"'})
    shipped = await upload(registry, "211", COUNCIL)
    source = await registry.client.post("/v1/hsds/sources", headers=admin, json={
        "name": "Leeds", "url": "https://hsds.example.org", "crosswalks": ["leeds-council"],
    })
    in_use = await registry.client.delete(f"{CROSSWALKS}/leeds-council",
                                          headers={**admin, "If-Match": '"2"'})
    await registry.client.delete(f"/v1/hsds/sources/{source.json()['id']}",
                                 headers={**admin, "If-Match": '"1"'})
    deleted = await registry.client.delete(f"{CROSSWALKS}/leeds-council",
                                           headers={**admin, "If-Match": '"2"'})
    unknown = await registry.client.post("/v1/hsds/dataset", params={"crosswalk": "leeds-council"},
                                         json=council_dataset(), headers=admin)

    assert unconditional.status_code == 428
    assert replaced.status_code == 200
    assert replaced.json()["mappings"] == 3
    assert replaced.headers["ETag"] == '"2"'
    assert shipped.status_code == 409
    assert source.status_code == 201
    assert source.json()["crosswalks"] == ["leeds-council"]
    assert in_use.status_code == 409
    assert "Leeds" in in_use.json()["detail"]
    assert deleted.status_code == 204
    assert unknown.status_code == 422
    assert unknown.json()["type"].endswith("/unknown-crosswalk")
    assert (await registry.client.get("/v1/hsds/dataset", headers=admin)).json() == []


async def test_only_a_network_admin_manages_crosswalks(registry: Registry) -> None:
    await upload(registry, "leeds-council", COUNCIL)
    organization = await registry.organization()
    headers = {**registry.headers(organization["id"], ORG_ADMIN), **CSV, "If-Match": '"1"'}

    answers = [
        await registry.client.get(CROSSWALKS, headers=headers),
        await registry.client.get(f"{CROSSWALKS}/leeds-council", headers=headers),
        await registry.client.put(f"{CROSSWALKS}/mine", content=COUNCIL.encode(),
                                  headers=headers),
        await registry.client.put(f"{CROSSWALKS}/leeds-council", content=b"taxonomy,code,"
                                  b"category\r\n", headers=headers),
        await registry.client.delete(f"{CROSSWALKS}/leeds-council", headers=headers),
    ]

    assert [answer.status_code for answer in answers] == [403] * 5
    assert set(await listed(registry)) == {"open_eligibility", "211", "leeds-council"}
