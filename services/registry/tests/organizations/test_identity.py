"""Issue 17, finding 1: an organisation's identity (name, type, country) is what verification
vouches for and what consent scopes name, so its own org_admin cannot change it; a clash with a
registered National Society or name is a 409 problem on either database, never a 500."""

from services.registry.tests.conftest import Registry
from waymark_kernel.auth import ORG_ADMIN

IDENTITY_CHANGES = (
    {"type": "national_society", "country": "FR"},
    {"type": "national_society"},
    {"country": "FR"},
    {"name": "Croix-Rouge française"},
)


async def test_finding_1_an_org_admin_cannot_relabel_its_verified_organisation(
    registry: Registry
) -> None:
    organization = await registry.organization(type="cso", country="LB", verified=True)
    path = f"/v1/organizations/{organization['id']}"
    own_admin = registry.headers(organization["id"], ORG_ADMIN)

    for body in IDENTITY_CHANGES:
        response = await registry.client.patch(path, json=body, headers=own_admin)
        assert response.status_code == 403, body
        assert response.headers["content-type"] == "application/problem+json"
        assert "network_admin" in response.json()["detail"]

    after = (await registry.client.get(path, headers=own_admin)).json()
    assert after == organization
    assert [event for event, _ in await registry.outbox()] == ["organization.created"]
    contact = await registry.client.patch(
        path, json={"phone": "+961 1 000000", "languages": ["ar", "fr"]}, headers=own_admin
    )
    assert contact.status_code == 200
    assert contact.json()["verified"] is True


async def test_finding_1_a_network_admin_relabels_and_the_event_names_what_changed(
    registry: Registry
) -> None:
    organization = await registry.organization(type="cso", country="LB", verified=True)
    path = f"/v1/organizations/{organization['id']}"

    response = await registry.client.patch(
        path, json={"type": "national_society", "country": "FR", "verified": False},
        headers=registry.network_admin,
    )

    assert response.status_code == 200, response.text
    assert (await registry.outbox())[-1] == ("organization.updated", {
        "organization_id": organization["id"], "name": organization["name"],
        "type": "national_society", "country": "FR", "verified": False, "email": None,
        "changed_fields": ["country", "type", "verified"],
    })


async def test_finding_1_a_second_national_society_in_a_country_is_a_409_not_a_500(
    any_registry: Registry
) -> None:
    registry = any_registry
    await registry.organization(type="national_society", country="FR", name="Croix-Rouge")
    other = await registry.organization(type="cso", country="FR", name="Secours")
    abroad = await registry.organization(type="national_society", country="BE", name="Rode Kruis")
    path = f"/v1/organizations/{other['id']}"

    created = await registry.client.post("/v1/organizations", json={
        "name": "Another Red Cross", "type": "national_society", "country": "FR",
    }, headers=registry.network_admin)
    clashes = [
        await registry.client.patch(path, json=body, headers=registry.network_admin)
        for body in ({"type": "national_society"}, {"name": "CROIX-ROUGE"})
    ] + [await registry.client.patch(
        f"/v1/organizations/{abroad['id']}", json={"country": "FR"},
        headers=registry.network_admin,
    )]

    for response in (created, *clashes):
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/conflict")
    assert (await registry.client.get(path, headers=registry.network_admin)).json() == other
    assert [event for event, _ in await registry.outbox()] == ["organization.created"] * 3
