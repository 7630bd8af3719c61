import uuid
from typing import Any

import httpx

from services.registry.tests.conftest import Registry
from waymark_kernel.auth import CASEWORKER, NETWORK_ADMIN, ORG_ADMIN, VIEWER

KATHMANDU = {"latitude": 27.7172, "longitude": 85.324}

SAFE_HOUSE = {
    "name": "Safe house for survivors",
    "address": "Lane 4, Ward 10",
    "city": "Kathmandu",
    "admin_area": "Bagmati",
    "country": "NP",
    **KATHMANDU,
    "confidential": True,
}
HELP_DESK = {
    "name": "Tribhuvan airport help desk",
    "address": "Arrivals hall",
    "city": "Kathmandu",
    "admin_area": "Bagmati",
    "country": "NP",
    "latitude": 27.6966,
    "longitude": 85.3591,
    "confidential": False,
}
RETURNEE_SERVICE = {
    "name": "Returnee reception and shelter",
    "description": "Reception of women returning from the Gulf, safe shelter and counselling.",
    "categories": ["return_reintegration.reception", "shelter.safe_house", "mhpss.counselling"],
    "status": "active",
    "languages": ["ne", "en", "hi"],
    "interpretation_available": True,
    "populations": ["migrant_domestic_workers", "returnees", "victims_of_trafficking"],
    "migration_stages": ["return"],
    "free_of_charge": True,
    "accepts_referrals": True,
    "capacity": "limited",
    "response_time_hours": 24,
    "eligibility_description": "Women returning from abroad, whatever their documents.",
    "locations": [HELP_DESK, SAFE_HOUSE],
    "phones": [
        {"number": "+977 1 4000000", "type": "hotline", "description": "24/7", "languages": ["ne"]}
    ],
    "email": "returnees@example.org",
    "url": "https://example.org/returnees",
    "schedules": [
        {"byday": ["MO", "TU", "WE", "TH", "FR"], "opens_at": "09:00", "closes_at": "17:00",
         "description": "Airport desk meets every Gulf flight"},
    ],
}
HIDDEN_SAFE_HOUSE = {
    "name": None, "address": None, "city": "Kathmandu", "admin_area": "Bagmati", "country": "NP",
    "latitude": None, "longitude": None, "confidential": True,
}


async def test_org_admin_publishes_a_service_with_every_field(registry: Registry) -> None:
    organization = await registry.organization(name="Pourakhi")

    response = await registry.client.post(
        "/v1/services", json=RETURNEE_SERVICE,
        headers=registry.headers(organization["id"], ORG_ADMIN),
    )

    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/v1/services/{body['id']}"
    assert {key: body[key] for key in RETURNEE_SERVICE} == RETURNEE_SERVICE
    assert body["organization_id"] == organization["id"]
    assert body["organization_name"] == "Pourakhi"
    assert body["organization_verified"] is False
    assert body["created_at"].endswith("Z")
    own = await registry.client.get(
        f"/v1/services/{body['id']}", headers=registry.headers(organization["id"], CASEWORKER)
    )
    assert own.status_code == 200
    assert own.json() == body


async def test_creating_a_service_records_service_created(registry: Registry) -> None:
    organization = await registry.organization()
    created = await registry.service(organization, **RETURNEE_SERVICE)

    assert await registry.outbox() == [
        ("organization.created", {
            "organization_id": organization["id"], "name": organization["name"], "type": "cso",
            "country": "NP", "verified": False, "email": None,
            "changed_fields": [],
        }),
        ("service.created", {
            "service_id": created["id"], "organization_id": organization["id"],
            "status": "active", "accepts_referrals": True, "countries": ["NP"],
            "categories": RETURNEE_SERVICE["categories"], "response_time_hours": 24,
        }),
    ]


async def test_a_service_without_locations_is_in_its_organisations_country(
    registry: Registry
) -> None:
    organization = await registry.organization(country="TH")
    await registry.service(organization)

    assert (await registry.outbox())[-1][1]["countries"] == ["TH"]


async def test_who_may_publish_for_which_organisation(registry: Registry) -> None:
    organization = await registry.organization()
    other = await registry.organization()
    body = {"name": "Legal clinic", "categories": ["legal"]}

    async def publish(headers: dict[str, str], **extra: Any) -> httpx.Response:
        return await registry.client.post("/v1/services", json=body | extra, headers=headers)

    assert (await publish(registry.headers(organization["id"], CASEWORKER))).status_code == 403
    assert (await publish(registry.headers(organization["id"], VIEWER))).status_code == 403
    foreign = await publish(
        registry.headers(other["id"], ORG_ADMIN), organization_id=organization["id"]
    )
    assert foreign.status_code == 403
    by_admin = await publish(registry.network_admin, organization_id=organization["id"])
    assert by_admin.status_code == 201
    assert by_admin.json()["organization_id"] == organization["id"]

    orphan = await publish(registry.network_admin)
    assert orphan.status_code == 422
    assert orphan.json()["type"].endswith("/organization-required")
    unknown = await publish(registry.network_admin, organization_id=str(uuid.uuid4()))
    assert unknown.status_code == 422
    assert unknown.json()["type"].endswith("/unknown-organization")
    assert unknown.json()["detail"]


async def test_bad_service_bodies_are_422(registry: Registry) -> None:
    organization = await registry.organization()
    headers = registry.headers(organization["id"], ORG_ADMIN)
    location = {"city": "Pokhara", "country": "NP"}
    cases = [
        RETURNEE_SERVICE | {"unknown": True},
        RETURNEE_SERVICE | {"status": "open"},
        RETURNEE_SERVICE | {"capacity": "plenty"},
        RETURNEE_SERVICE | {"populations": ["tourists"]},
        RETURNEE_SERVICE | {"migration_stages": ["departure"]},
        RETURNEE_SERVICE | {"categories": ["health.dentistry"]},
        RETURNEE_SERVICE | {"categories": []},
        RETURNEE_SERVICE | {"languages": ["nepali"]},
        RETURNEE_SERVICE | {"response_time_hours": -1},
        RETURNEE_SERVICE | {"locations": [location | {"country": "Nepal"}]},
        RETURNEE_SERVICE | {"locations": [location | {"latitude": 28.2}]},
        RETURNEE_SERVICE | {"locations": [location | {"latitude": 91, "longitude": 0}]},
        RETURNEE_SERVICE | {"locations": [location | {"secret": True}]},
        RETURNEE_SERVICE | {"locations": [location] * 51},
        RETURNEE_SERVICE | {"schedules": [{"opens_at": "9am"}]},
        RETURNEE_SERVICE | {"phones": [{"number": "call us"}]},
        {"categories": ["health"]},
    ]
    for body in cases:
        response = await registry.client.post("/v1/services", json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.json()["type"].endswith("/validation-error")
    assert [event for event, _ in await registry.outbox()] == ["organization.created"]


async def test_confidential_location_is_hidden_outside_the_owning_organisation(
    registry: Registry
) -> None:
    owner = await registry.organization()
    other = await registry.organization()
    service = await registry.service(owner, locations=[HELP_DESK, SAFE_HOUSE])
    path = f"/v1/services/{service['id']}"

    seen_by_owner = await registry.client.get(path, headers=registry.headers(owner["id"], VIEWER))
    assert seen_by_owner.json()["locations"] == [HELP_DESK, SAFE_HOUSE]
    for outsider in (
        registry.headers(other["id"], ORG_ADMIN), registry.headers(None, NETWORK_ADMIN)
    ):
        seen = await registry.client.get(path, headers=outsider)
        assert seen.status_code == 200
        assert seen.json()["locations"] == [HELP_DESK, HIDDEN_SAFE_HOUSE]
        searched = await registry.client.get(
            "/v1/services", params={"organization_id": owner["id"]}, headers=outsider
        )
        assert searched.json()["items"][0]["locations"] == [HELP_DESK, HIDDEN_SAFE_HOUSE]
    # The network admin created the service through the API as well: the answer to a write
    # follows the same rule.
    by_admin = await registry.client.post(
        "/v1/services", headers=registry.network_admin,
        json={"organization_id": owner["id"], "name": "Shelter", "categories": ["shelter"],
              "locations": [SAFE_HOUSE]},
    )
    assert by_admin.json()["locations"] == [HIDDEN_SAFE_HOUSE]


async def test_radius_search_does_not_pin_down_a_confidential_location(registry: Registry) -> None:
    owner = await registry.organization()
    other = await registry.organization()
    await registry.service(owner, locations=[SAFE_HOUSE])
    params = {"lat": KATHMANDU["latitude"], "lon": KATHMANDU["longitude"], "radius_km": 10}

    async def distance(headers: dict[str, str]) -> float:
        response = await registry.client.get("/v1/services", params=params, headers=headers)
        [item] = response.json()["items"]
        distance_km: float = item["distance_km"]
        return distance_km

    assert await distance(registry.headers(owner["id"], VIEWER)) == 0.0
    # Outsiders measure to the point rounded to 0.1° (27.7, 85.3), about 3 km away.
    assert await distance(registry.headers(other["id"], VIEWER)) == 3.0


async def test_organisation_verification_shows_on_its_services(registry: Registry) -> None:
    organization = await registry.organization()
    service = await registry.service(organization)
    await registry.client.patch(
        f"/v1/organizations/{organization['id']}", json={"verified": True},
        headers=registry.network_admin,
    )

    response = await registry.client.get(
        f"/v1/services/{service['id']}", headers=registry.network_admin
    )

    assert response.json()["organization_verified"] is True


async def test_org_admin_patches_its_service(registry: Registry) -> None:
    organization = await registry.organization()
    service = await registry.service(organization, **RETURNEE_SERVICE)
    change = {
        "capacity": "full", "accepts_referrals": False, "categories": ["shelter"],
        "locations": [HELP_DESK], "email": None,
    }

    response = await registry.client.patch(
        f"/v1/services/{service['id']}", json=change,
        headers=registry.headers(organization["id"], ORG_ADMIN),
    )

    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in change} == change
    assert body["name"] == RETURNEE_SERVICE["name"]
    assert body["updated_at"] > service["updated_at"]
    assert (await registry.outbox())[-1] == ("service.updated", {
        "service_id": service["id"], "organization_id": organization["id"], "status": "active",
        "accepts_referrals": False, "countries": ["NP"], "categories": ["shelter"],
        "response_time_hours": 24,
    })


async def test_a_patch_that_changes_nothing_records_no_event(registry: Registry) -> None:
    organization = await registry.organization()
    service = await registry.service(organization, **RETURNEE_SERVICE)

    response = await registry.client.patch(
        f"/v1/services/{service['id']}",
        json={"name": RETURNEE_SERVICE["name"], "locations": RETURNEE_SERVICE["locations"]},
        headers=registry.headers(organization["id"], ORG_ADMIN),
    )

    assert response.status_code == 200
    assert response.json() == service
    assert [event for event, _ in await registry.outbox()][-1] == "service.created"


async def test_patch_and_delete_permissions(registry: Registry) -> None:
    organization = await registry.organization()
    other = await registry.organization()
    service = await registry.service(organization)
    path = f"/v1/services/{service['id']}"
    refused = [
        registry.headers(other["id"], ORG_ADMIN), registry.headers(organization["id"], CASEWORKER)
    ]

    for headers in refused:
        assert (await registry.client.patch(path, json={"capacity": "full"}, headers=headers)
                ).status_code == 403
        assert (await registry.client.delete(path, headers=headers)).status_code == 403
    missing = f"/v1/services/{uuid.uuid4()}"
    own_admin = registry.headers(organization["id"], ORG_ADMIN)
    assert (await registry.client.get(missing, headers=own_admin)).status_code == 404
    assert (await registry.client.patch(missing, json={}, headers=own_admin)).status_code == 404
    assert (await registry.client.delete(missing, headers=own_admin)).status_code == 404
    assert (await registry.client.patch(
        path, json={"organization_id": other["id"]}, headers=registry.network_admin
    )).status_code == 422
    assert (await registry.client.patch(path, json={"status": None}, headers=own_admin)
            ).status_code == 422


async def test_delete_withdraws_the_service(registry: Registry) -> None:
    organization = await registry.organization()
    service = await registry.service(organization, locations=[HELP_DESK])
    path = f"/v1/services/{service['id']}"
    headers = registry.headers(organization["id"], ORG_ADMIN)

    response = await registry.client.delete(path, headers=headers)

    assert response.status_code == 204
    assert (await registry.client.get(path, headers=headers)).status_code == 404
    assert (await registry.client.delete(path, headers=headers)).status_code == 404
    assert (await registry.outbox())[-1] == ("service.deleted", {
        "service_id": service["id"], "organization_id": organization["id"],
    })


async def test_organisation_moving_country_moves_its_services_without_locations(
    registry: Registry
) -> None:
    organization = await registry.organization(country="NP")
    placeless = await registry.service(organization)
    await registry.service(organization, locations=[HELP_DESK])

    await registry.client.patch(
        f"/v1/organizations/{organization['id']}", json={"country": "TH"},
        headers=registry.network_admin,
    )

    events = await registry.outbox()
    assert [event for event, _ in events[-2:]] == ["organization.updated", "service.updated"]
    assert events[-1][1]["service_id"] == placeless["id"]
    assert events[-1][1]["countries"] == ["TH"]
    for params in ({"country": "TH"}, {"country": "TH", "category": "health"}):
        found = await registry.client.get(
            "/v1/services", params=params, headers=registry.headers(None, VIEWER)
        )
        assert [item["id"] for item in found.json()["items"]] == [placeless["id"]]


async def test_a_search_hit_shows_the_service_as_its_own_page_does(any_registry: Registry) -> None:
    registry = any_registry
    owner = await registry.organization(name="Pourakhi")
    other = await registry.organization()
    created = await registry.service(
        owner, **RETURNEE_SERVICE, original_language="en",
        translations=[{"field": "name", "language": "fr", "text": "Accueil des rapatriées"}],
    )
    near = {"lat": KATHMANDU["latitude"], "lon": KATHMANDU["longitude"], "radius_km": 50}
    shown: dict[str, Any] = {}  # as the last viewer, an outsider, sees it
    for viewer in (owner, other):
        headers = {**registry.headers(viewer["id"], VIEWER), "Accept-Language": "fr"}
        page = await registry.client.get(f"/v1/services/{created['id']}", headers=headers)
        shown = page.json()
        [found] = (await registry.client.get(
            "/v1/services", params={"q": "returnee"}, headers=headers
        )).json()["items"]
        [nearby] = (await registry.client.get(
            "/v1/services", params=near, headers=headers
        )).json()["items"]

        assert shown["name"] == "Accueil des rapatriées"
        assert found == {**shown, "distance_km": None}
        assert nearby == {**shown, "distance_km": nearby["distance_km"]}
    assert shown["locations"] == [HELP_DESK, HIDDEN_SAFE_HOUSE]
