"""Organisations announced again, for consumers that started after they were created."""

from waymark_registry.organizations.announcements import announce_all


async def test_every_organisation_is_announced_again_with_its_contact_address(registry) -> None:
    organizations = [
        await registry.organization(email="desk@first.test"),
        await registry.organization(email="desk@second.test", country="LB"),
        await registry.organization(),
    ]
    created = await registry.outbox()

    announced = await announce_all(registry.app.state.database, batch=2)

    assert announced == 3
    again = (await registry.outbox())[len(created):]
    assert sorted(again, key=lambda event: event[1]["organization_id"]) == sorted((
        ("organization.updated", {
            "organization_id": organization["id"], "name": organization["name"],
            "type": "cso", "country": organization["country"], "verified": False,
            "email": organization["email"],
        }) for organization in organizations
    ), key=lambda event: event[1]["organization_id"])
