import uuid
from typing import Any

from services.registry.tests.conftest import Registry
from waymark_kernel.auth import CASEWORKER, NETWORK_ADMIN, ORG_ADMIN, VIEWER

NEPAL_RED_CROSS = {
    "name": "Nepal Red Cross Society",
    "type": "national_society",
    "country": "NP",
    "description": "Humanitarian services across the 77 districts of Nepal.",
    "website": "https://nrcs.org",
    "email": "info@nrcs.org",
    "phone": "+977 1 4270650",
    "languages": ["ne", "en"],
    "identifiers": [
        {"identifier_scheme": "NP-SWC", "identifier_type": "Social Welfare Council",
         "identifier": "1"},
    ],
}


async def test_network_admin_registers_an_organisation_with_every_field(registry: Registry) -> None:
    response = await registry.client.post(
        "/v1/organizations", json=NEPAL_RED_CROSS, headers=registry.network_admin
    )

    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/v1/organizations/{body['id']}"
    assert {key: body[key] for key in NEPAL_RED_CROSS} == NEPAL_RED_CROSS
    assert body["verified"] is False
    assert body["created_at"].endswith("Z")
    assert body["created_at"] == body["updated_at"]
    fetched = await registry.client.get(
        f"/v1/organizations/{body['id']}", headers=registry.headers(uuid.uuid4(), VIEWER)
    )
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_creating_an_organisation_records_organization_created(registry: Registry) -> None:
    organization = await registry.organization(
        name="Pourakhi", type="migrant_association", email="info@pourakhi.example"
    )

    assert await registry.outbox() == [("organization.created", {
        "organization_id": organization["id"], "name": "Pourakhi", "type": "migrant_association",
        "country": "NP", "verified": False, "email": "info@pourakhi.example",
        "changed_fields": [],
    })]


async def test_only_a_network_admin_registers_organisations(registry: Registry) -> None:
    own = await registry.organization()
    for role in (CASEWORKER, ORG_ADMIN):
        response = await registry.client.post(
            "/v1/organizations", json=NEPAL_RED_CROSS, headers=registry.headers(own["id"], role)
        )
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/forbidden")
    assert [event for event, _ in await registry.outbox()] == ["organization.created"]


async def test_anonymous_callers_are_refused(registry: Registry) -> None:
    response = await registry.client.get("/v1/organizations")

    assert response.status_code == 401


async def test_bad_bodies_are_422_problems(registry: Registry) -> None:
    cases = [
        {**NEPAL_RED_CROSS, "unknown": 1},
        {**NEPAL_RED_CROSS, "country": "np"},
        {**NEPAL_RED_CROSS, "country": "XY"},
        {**NEPAL_RED_CROSS, "type": "ngo"},
        {**NEPAL_RED_CROSS, "languages": ["english"]},
        {**NEPAL_RED_CROSS, "languages": ["xx"]},
        {**NEPAL_RED_CROSS, "website": "nrcs.org"},
        {**NEPAL_RED_CROSS, "email": "not-an-address"},
        {**NEPAL_RED_CROSS, "identifiers": [{"identifier": "1"}]},
        {**NEPAL_RED_CROSS, "name": "x" * 201},
        {key: value for key, value in NEPAL_RED_CROSS.items() if key != "country"},
    ]
    for body in cases:
        response = await registry.client.post(
            "/v1/organizations", json=body, headers=registry.network_admin
        )
        assert response.status_code == 422, body
        problem = response.json()
        assert problem["type"].endswith("/validation-error")
        assert problem["status"] == 422
        assert problem["errors"]
    assert await registry.outbox() == []


async def test_a_second_national_society_or_a_duplicate_name_in_a_country_conflicts(
    registry: Registry
) -> None:
    await registry.organization(**NEPAL_RED_CROSS)

    another_society = {**NEPAL_RED_CROSS, "name": "Other Red Cross"}
    same_name = {**NEPAL_RED_CROSS, "type": "cso", "name": "NEPAL red cross society"}
    for body in (another_society, same_name):
        response = await registry.client.post(
            "/v1/organizations", json=body, headers=registry.network_admin
        )
        assert response.status_code == 409, body
    abroad = {**NEPAL_RED_CROSS, "country": "TH", "name": "Thai Red Cross Society"}
    assert (await registry.client.post(
        "/v1/organizations", json=abroad, headers=registry.network_admin
    )).status_code == 201


async def test_list_filters_by_name_country_and_type(registry: Registry) -> None:
    await registry.organization(name="Alpha Shelter Network", country="TH", verified=True)
    beta = await registry.organization(name="Beta Shelter", country="NP", type="cso")
    await registry.organization(name="Gamma Health", country="NP", type="government")
    headers = registry.headers(uuid.uuid4(), VIEWER)

    async def names(**params: Any) -> list[str]:
        response = await registry.client.get("/v1/organizations", params=params, headers=headers)
        assert response.status_code == 200
        return [item["name"] for item in response.json()["items"]]

    assert await names() == ["Alpha Shelter Network", "Beta Shelter", "Gamma Health"]
    assert await names(q="sHeLtEr") == ["Alpha Shelter Network", "Beta Shelter"]
    assert await names(q="%") == []
    assert await names(country="NP") == ["Beta Shelter", "Gamma Health"]
    assert await names(type="government") == ["Gamma Health"]
    assert await names(q="shelter", country="NP", type="cso") == [beta["name"]]
    assert await names(verified="false") == ["Beta Shelter", "Gamma Health"]
    assert await names(verified="true", q="shelter") == ["Alpha Shelter Network"]


async def test_list_pages_with_a_cursor(registry: Registry) -> None:
    for name in ("D", "B", "E", "A", "C"):
        await registry.organization(name=f"Org {name}")
    headers = registry.headers(uuid.uuid4(), VIEWER)

    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await registry.client.get("/v1/organizations", params=params, headers=headers)
        page = response.json()
        seen.append([item["name"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == [["Org A", "Org B"], ["Org C", "Org D"], ["Org E"]]


async def test_list_rejects_bad_queries(registry: Registry) -> None:
    headers = registry.headers(uuid.uuid4(), VIEWER)
    for params in ({"limit": 1000}, {"limit": 0}, {"country": "Nepal"}, {"type": "ngo"}):
        response = await registry.client.get("/v1/organizations", params=params, headers=headers)
        assert response.status_code == 422, params
    response = await registry.client.get(
        "/v1/organizations", params={"cursor": "garbage"}, headers=headers
    )
    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-cursor")


async def test_unknown_organisation_is_404(registry: Registry) -> None:
    response = await registry.client.get(
        f"/v1/organizations/{uuid.uuid4()}", headers=registry.network_admin
    )

    assert response.status_code == 404
    assert response.json()["title"] == "Not Found"


async def test_org_admin_patches_its_own_organisation(registry: Registry) -> None:
    organization = await registry.organization(name="Pourakhi")

    response = await registry.client.patch(
        f"/v1/organizations/{organization['id']}",
        json={"description": "Returnee women", "languages": ["ne"], "website": None},
        headers=registry.headers(organization["id"], ORG_ADMIN),
    )

    assert response.status_code == 200
    body = response.json()
    assert body["description"] == "Returnee women"
    assert body["languages"] == ["ne"]
    assert body["name"] == "Pourakhi"
    assert body["updated_at"] > organization["updated_at"]
    events = await registry.outbox()
    assert [event for event, _ in events] == ["organization.created", "organization.updated"]


async def test_patch_permissions(registry: Registry) -> None:
    organization = await registry.organization()
    other = await registry.organization()
    path = f"/v1/organizations/{organization['id']}"

    other_admin = registry.headers(other["id"], ORG_ADMIN)
    own_caseworker = registry.headers(organization["id"], CASEWORKER)
    for headers in (other_admin, own_caseworker):
        response = await registry.client.patch(path, json={"description": "x"}, headers=headers)
        assert response.status_code == 403
    missing = await registry.client.patch(
        f"/v1/organizations/{uuid.uuid4()}", json={"description": "x"}, headers=other_admin
    )
    assert missing.status_code == 404


async def test_only_a_network_admin_changes_verified(registry: Registry) -> None:
    organization = await registry.organization()
    path = f"/v1/organizations/{organization['id']}"
    own_admin = registry.headers(organization["id"], ORG_ADMIN)

    refused = await registry.client.patch(path, json={"verified": True}, headers=own_admin)
    assert refused.status_code == 403
    unchanged = await registry.client.patch(path, json={"verified": False}, headers=own_admin)
    assert unchanged.status_code == 200

    verified = await registry.client.patch(
        path, json={"verified": True}, headers=registry.headers(None, NETWORK_ADMIN)
    )
    assert verified.status_code == 200
    assert verified.json()["verified"] is True
    assert (await registry.outbox())[-1] == ("organization.updated", {
        "organization_id": organization["id"], "name": organization["name"], "type": "cso",
        "country": "NP", "verified": True, "email": None, "changed_fields": ["verified"],
    })


async def test_patch_rejects_bad_bodies(registry: Registry) -> None:
    organization = await registry.organization()
    path = f"/v1/organizations/{organization['id']}"
    for body in ({"name": None}, {"unknown": "x"}, {"country": "ZZ"}, {"id": str(uuid.uuid4())}):
        response = await registry.client.patch(path, json=body, headers=registry.network_admin)
        assert response.status_code == 422, body
