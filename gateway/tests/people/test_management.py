"""What an organisation's admin does with its people, and the audit log that records it."""

import logging
import uuid

import jwt
import pytest

from gateway.tests.conftest import Network
from waymark_gateway.people import totp

from .conftest import KNOWN_ORGANIZATION, OTHER_ORGANIZATION, People


async def test_the_admin_lists_people_with_roles_second_factor_and_last_sign_in(
    people: People
) -> None:
    person = await people.enrol(name="Layla Nasser")
    await people.enrol(name="Omar Saleh")
    await people.signed_in(person)
    listed = {item["id"]: item for item in await people.people_of()}
    entry = listed[person.person["id"]]
    assert entry["name"] == "Layla Nasser"
    assert entry["email"] == person.email
    assert entry["roles"] == ["caseworker"]
    assert entry["active"] is True
    assert entry["mfa_enrolled"] is True
    assert entry["last_sign_in_at"] is not None
    assert person.person["id"] not in {item["id"] for item in await people.people_of(OTHER_ORGANIZATION)}

    caseworker = people.gateway.headers(KNOWN_ORGANIZATION, "caseworker")
    refused = await people.client.get(f"/v1/organizations/{KNOWN_ORGANIZATION}/people", headers=caseworker)
    assert refused.status_code == 403
    network_admin = people.gateway.headers(None, "network_admin")
    everyone = await people.client.get(
        f"/v1/organizations/{KNOWN_ORGANIZATION}/people", headers=network_admin)
    assert person.person["id"] in {item["id"] for item in everyone.json()["items"]}
    first = await people.client.get(
        f"/v1/organizations/{KNOWN_ORGANIZATION}/people", params={"limit": 1}, headers=network_admin)
    second = await people.client.get(
        f"/v1/organizations/{KNOWN_ORGANIZATION}/people",
        params={"limit": 1, "cursor": first.json()["next_cursor"]}, headers=network_admin)
    assert first.json()["items"][0]["id"] != second.json()["items"][0]["id"]


async def test_another_organisations_admin_finds_no_such_person(people: People) -> None:
    person = await people.enrol()
    path = f"/v1/people/{person.person['id']}"
    other_admin = people.admin(OTHER_ORGANIZATION)
    for response in (
        await people.client.patch(path, json={"active": False}, headers=other_admin),
        await people.client.patch(path, json={"roles": ["viewer"]}, headers=other_admin),
        await people.client.post(f"{path}/second-factor/reset", headers=other_admin),
        await people.client.patch(f"/v1/people/{uuid.uuid4()}", json={"active": False},
                                  headers=people.admin()),
    ):
        assert response.status_code == 404
    assert (await people.sign_in(person)).status_code == 201  # nothing changed


async def test_a_role_change_reaches_the_persons_open_session(
    people: People, network: Network
) -> None:
    person = await people.enrol()
    csrf = await people.signed_in(person)
    changed = await network.client.patch(
        f"/v1/people/{person.person['id']}", json={"roles": ["viewer"]}, headers=people.admin())
    assert changed.status_code == 200
    assert changed.json()["roles"] == ["viewer"]
    await network.client.post("/v1/cases", json={}, headers={"X-CSRF-Token": csrf})
    claims = jwt.decode(
        network.referrals.state.calls[-1].headers["authorization"].split()[1],
        options={"verify_signature": False},
    )
    assert claims["roles"] == ["viewer"]
    empty = await network.client.patch(
        f"/v1/people/{person.person['id']}", json={}, headers=people.admin())
    assert empty.status_code == 422
    network_admin_grant = await network.client.patch(
        f"/v1/people/{person.person['id']}", json={"roles": ["network_admin"]}, headers=people.admin())
    assert network_admin_grant.status_code == 403  # only a network admin makes one


async def test_after_a_second_factor_reset_the_person_enrols_again_at_sign_in(
    people: People, network: Network
) -> None:
    person = await people.enrol()
    await people.signed_in(person)
    reset = await network.client.post(
        f"/v1/people/{person.person['id']}/second-factor/reset", headers=people.admin())
    assert reset.status_code == 200
    assert reset.json()["mfa_enrolled"] is False
    assert (await network.client.get("/v1/cases")).status_code == 401  # her sessions ended
    old_code = await people.sign_in(person, code=person.code(1))
    assert old_code.status_code == 403
    offered = old_code.json()
    assert offered["type"].endswith("/second-factor-enrolment-required")
    new_secret = offered["totp"]["secret"]
    assert new_secret != person.secret
    assert offered["totp"]["qr_svg"].startswith("<svg")
    wrong_password = await people.sign_in(person, password="Not-The-Right-One-99", code=None)
    assert wrong_password.status_code == 401
    enrolled = await people.sign_in(person, code=totp.code_at(new_secret, totp.current_step()))
    assert enrolled.status_code == 201, enrolled.text
    assert len(enrolled.json()["recovery_codes"]) == 10
    assert enrolled.json()["person"]["mfa_enrolled"] is True
    assert (await people.sign_in(person, code=person.recovery_codes[0])).status_code == 401


async def test_the_audit_log_names_actor_action_target_time_address_and_result(
    people: People, network: Network
) -> None:
    person = await people.enrol()
    await people.sign_in(person, password="Not-The-Right-One-99")
    await people.signed_in(person)
    admin = people.admin()
    target = person.person["id"]
    await network.client.patch(f"/v1/people/{target}", json={"roles": ["viewer"]}, headers=admin)
    await network.client.post(f"/v1/people/{target}/second-factor/reset", headers=admin)
    await network.client.patch(f"/v1/people/{target}", json={"active": False}, headers=admin)
    entries = [e for e in await people.audit() if e["target"] == target]
    assert [(e["action"], e["result"]) for e in entries] == [
        ("deactivated", "success"), ("second_factor_reset", "success"),
        ("roles_changed", "success"), ("sign_in", "success"), ("sign_in", "wrong_password"),
    ]
    assert all(e["address"] == "203.0.113.7" for e in entries)
    assert all(e["at"].endswith(("Z", "+00:00")) for e in entries)
    assert entries[-1]["actor"] == "anonymous"
    assert entries[-2]["actor"] == target
    assert entries[0]["actor"].startswith("test-")  # the admin's token subject
    invitations = [e for e in await people.audit() if e["action"] == "invitation_created"]
    assert invitations
    page = await network.client.get(
        f"/v1/organizations/{KNOWN_ORGANIZATION}/audit", params={"limit": 2}, headers=admin)
    following = await network.client.get(
        f"/v1/organizations/{KNOWN_ORGANIZATION}/audit",
        params={"limit": 2, "cursor": page.json()["next_cursor"]}, headers=admin)
    assert len(page.json()["items"]) == 2
    assert len(following.json()["items"]) == 2
    assert not {e["at"] for e in page.json()["items"]} & {e["at"] for e in following.json()["items"]}
    other = await network.client.get(
        f"/v1/organizations/{KNOWN_ORGANIZATION}/audit",
        headers=people.admin(OTHER_ORGANIZATION))
    assert other.status_code == 404


async def test_only_a_network_admin_makes_unmakes_or_manages_a_network_admin(
    people: People
) -> None:
    refused = await people.invite("raised@example.org", ["org_admin", "network_admin"])
    assert refused.status_code == 403
    colleague = await people.enrol(roles=["org_admin"])
    path = f"/v1/people/{colleague.person['id']}"
    raised = await people.client.patch(path, json={"roles": ["org_admin", "network_admin"]},
                                       headers=people.admin())
    assert raised.status_code == 403
    assert {p["id"]: p for p in await people.people_of()}[colleague.person["id"]]["roles"] == ["org_admin"]

    network_admin = people.gateway.headers(None, "network_admin")
    invited = await people.client.post(
        f"/v1/organizations/{KNOWN_ORGANIZATION}/invitations", headers=network_admin,
        json={"email": "network.admin@example.org", "roles": ["network_admin"]})
    assert invited.status_code == 201
    assert invited.json()["roles"] == ["network_admin"]
    promoted = await people.client.patch(path, json={"roles": ["org_admin", "network_admin"]},
                                         headers=network_admin)
    assert promoted.status_code == 200
    assert "network_admin" in promoted.json()["roles"]
    for response in (
        await people.client.patch(path, json={"roles": ["org_admin"]}, headers=people.admin()),
        await people.client.patch(path, json={"active": False}, headers=people.admin()),
        await people.client.post(f"{path}/second-factor/reset", headers=people.admin()),
    ):
        assert response.status_code == 403
    person = {p["id"]: p for p in await people.people_of()}[colleague.person["id"]]
    assert person["roles"] == ["org_admin", "network_admin"]
    assert person["active"] is True


async def test_a_network_admin_manages_the_people_of_any_organisation(people: People) -> None:
    person = await people.enrol(organization_id=OTHER_ORGANIZATION)
    network_admin = people.gateway.headers(None, "network_admin")
    path = f"/v1/people/{person.person['id']}"
    listed = await people.client.get(
        f"/v1/organizations/{OTHER_ORGANIZATION}/people", params={"limit": 100},
        headers=network_admin)
    assert person.person["id"] in [item["id"] for item in listed.json()["items"]]
    changed = await people.client.patch(path, json={"roles": ["viewer"]}, headers=network_admin)
    assert changed.json()["roles"] == ["viewer"]
    reset = await people.client.post(f"{path}/second-factor/reset", headers=network_admin)
    assert reset.json()["mfa_enrolled"] is False
    deactivated = await people.client.patch(path, json={"active": False}, headers=network_admin)
    assert deactivated.json()["active"] is False
    audit = await people.client.get(
        f"/v1/organizations/{OTHER_ORGANIZATION}/audit", params={"limit": 100},
        headers=network_admin)
    assert [e["action"] for e in audit.json()["items"] if e["target"] == person.person["id"]][:3] == [
        "deactivated", "second_factor_reset", "roles_changed"]


async def test_her_name_and_email_are_in_no_log_line(
    people: People, network: Network, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    person = await people.enrol(email="leila.mansour@example.org", name="Leila Mansour")
    await people.sign_in(person, password="Not-The-Right-One-99")
    csrf = await people.signed_in(person)
    await network.client.post("/v1/cases", json={"subject": "x"}, headers={"X-CSRF-Token": csrf})
    path = f"/v1/people/{person.person['id']}"
    await network.client.patch(path, json={"roles": ["viewer"]}, headers=people.admin())
    await network.client.post(f"{path}/second-factor/reset", headers=people.admin())
    await network.client.patch(path, json={"active": False}, headers=people.admin())
    assert caplog.records  # the gateway did log
    assert "Leila" not in caplog.text
    assert "Mansour" not in caplog.text
    assert "leila.mansour" not in caplog.text
