"""A person's whole path through the gateway of a running network, in both modes: invited by
her organisation's admin, she accepts with a password and a TOTP authenticator, signs in, opens
a case and refers the person, and the referrals service's history and disclosure ledger name
her as the one who acted."""

import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.flow import (
    PERSON,
    created,
    organisation_with_client,
    refer_when_receiver_known,
    service_body,
    token,
)
from tests.e2e.support import ADMIN_SECRET, Network
from waymark_gateway.people import totp

pytestmark = pytest.mark.integration  # starts networks of processes

PASSWORD = "Saffron-Harbour-Listens-31"


async def _enrolled(
    client: httpx.AsyncClient, organisation_id: str, admin: dict[str, str], email: str,
    name: str, role: str,
) -> tuple[str, str]:
    """Invites `email` and accepts the invitation: her TOTP secret and her id."""
    invitation = await created(await client.post(
        f"/v1/organizations/{organisation_id}/invitations", headers=admin,
        json={"email": email, "roles": [role]},
    ))
    enrolled = await created(await client.post(
        f"/v1/invitations/{invitation['accept_url'].rsplit('/', 1)[1]}",
        json={"name": name, "password": PASSWORD},
    ))
    return enrolled["totp"]["secret"], enrolled["person"]["id"]


async def _signed_in(
    browser: httpx.AsyncClient, email: str, secret: str, step_offset: int = 0
) -> dict[str, str]:
    """Signs in on `browser` (a code is accepted once: a later sign-in takes the next step's)."""
    signed_in = await created(await browser.post("/v1/auth/sessions", json={
        "email": email, "password": PASSWORD,
        "code": totp.code_at(secret, totp.current_step() + step_offset),
    }))
    return {"X-CSRF-Token": signed_in["csrf_token"]}


async def _organisations_and_service(
    client: httpx.AsyncClient,
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any], dict[str, Any]]:
    """An origin organisation and its admin's headers; a destination and its service."""
    admin = await token(client, "network-admin", ADMIN_SECRET)
    origin, origin_admin = await organisation_with_client(client, admin, "Origin desk", "NP")
    destination, destination_headers = await organisation_with_client(
        client, admin, "Destination desk", "LB")
    service = await created(await client.post(
        "/v1/services", headers=destination_headers,
        json=service_body(destination["id"], "LB", "Beirut"),
    ))
    return origin, origin_admin, destination, service


async def _case_referred(
    browser: httpx.AsyncClient, csrf: dict[str, str], destination: dict[str, Any],
    service: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The signed-in person opens a case, reads it, records consent and refers it."""
    case = await created(await browser.post(
        "/v1/cases", headers=csrf, json={"person": PERSON, "vulnerabilities": ["domestic_worker"]},
    ))
    read = await browser.get(f"/v1/cases/{case['id']}")
    assert read.status_code == 200
    assert read.json()["person"]["given_name"] == PERSON["given_name"]
    consent = await browser.put(f"/v1/cases/{case['id']}/consent", headers=csrf, json={
        "legal_basis": "consent", "scope": {"countries": ["LB"]},
        "given_at": "2026-11-20T10:00:00Z", "method": "verbal",
    })
    assert consent.status_code == 200, consent.text
    referral = await refer_when_receiver_known(browser, csrf, {
        "case_id": case["id"], "receiver_org_id": destination["id"],
        "service_id": service["id"], "migration_stage": "destination",
        "categories": service["categories"], "urgency": "high",
        "reason": "Unpaid wages", "shared_fields": ["given_name"],
    })
    return case, referral


async def _invited_caseworker_signs_in_and_refers(network: Network) -> None:
    async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as client:
        origin, origin_admin, destination, service = await _organisations_and_service(client)
        secret, person_id = await _enrolled(
            client, origin["id"], origin_admin, "sita.rai@example.org", "Sita Rai", "caseworker")

    async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as browser:
        csrf = await _signed_in(browser, "sita.rai@example.org", secret)
        case, referral = await _case_referred(browser, csrf, destination, service)
        history = await browser.get(f"/v1/referrals/{referral['id']}/history")
        assert history.status_code == 200, history.text
        her = {"kind": "person", "id": person_id, "name": "Sita Rai"}
        assert history.json()["items"][0]["actor"] == her
        disclosures = await browser.get(f"/v1/cases/{case['id']}/disclosures")
        assert disclosures.status_code == 200, disclosures.text
        assert her in [entry["actor"] for entry in disclosures.json()["items"]]  # the ledger names her

        without_csrf = await browser.post(
            "/v1/cases", json={"person": PERSON, "vulnerabilities": []})
        assert without_csrf.status_code == 403
        assert without_csrf.json()["type"].endswith("/csrf-token-missing")

        signed_out = await browser.delete("/v1/auth/session", headers=csrf)
        assert signed_out.status_code == 204
        assert (await browser.get(f"/v1/cases/{case['id']}")).status_code == 401
        assert (await browser.get(f"/v1/cases/{case['id']}", headers={"Cookie": ""})).status_code == 401

        audit = await browser.get(f"/v1/organizations/{origin['id']}/audit", headers=origin_admin)
        actions = [(entry["action"], entry["result"]) for entry in audit.json()["items"]]
        assert ("sign_in", "success") in actions
        assert ("sign_out", "success") in actions
        assert ("invitation_created", "success") in actions


async def test_standalone_network_signs_a_person_in_and_she_refers(standalone: Network) -> None:
    await _invited_caseworker_signs_in_and_refers(standalone)


async def test_distributed_network_signs_a_person_in_and_she_refers(distributed: Network) -> None:
    await _invited_caseworker_signs_in_and_refers(distributed)


async def test_a_stolen_session_cookie_is_refused_after_sign_out(standalone: Network) -> None:
    async with httpx.AsyncClient(base_url=standalone.base_url, timeout=30) as client:
        admin = await token(client, "network-admin", ADMIN_SECRET)
        origin, origin_admin = await organisation_with_client(client, admin, "Desk", "NP")
        email = f"p{uuid.uuid4().hex[:6]}@example.org"
        secret, _ = await _enrolled(client, origin["id"], origin_admin, email, "Viewer", "viewer")
        signed_in = await client.post("/v1/auth/sessions", json={
            "email": email, "password": PASSWORD, "code": totp.code_at(secret, totp.current_step()),
        })
        stolen = signed_in.cookies["waymark_session"]
        await client.delete("/v1/auth/session", headers={"X-CSRF-Token": signed_in.json()["csrf_token"]})
    async with httpx.AsyncClient(base_url=standalone.base_url, cookies={"waymark_session": stolen}) as thief:
        assert (await thief.get("/v1/cases")).status_code == 401
        assert (await thief.get("/v1/auth/session")).status_code == 401


async def test_a_deleted_caseworkers_name_becomes_a_pseudonym_in_history_and_ledger(
    standalone: Network,
) -> None:
    email = "nima.gurung@example.org"
    async with httpx.AsyncClient(base_url=standalone.base_url, timeout=30) as client:
        origin, origin_admin, destination, service = await _organisations_and_service(client)
        secret, person_id = await _enrolled(
            client, origin["id"], origin_admin, email, "Nima Gurung", "caseworker")
    async with httpx.AsyncClient(base_url=standalone.base_url, timeout=30) as browser:
        csrf = await _signed_in(browser, email, secret)
        case, referral = await _case_referred(browser, csrf, destination, service)
        minted = await browser.post("/v1/auth/session/token", headers=csrf)
        bearer = {"Authorization": f"Bearer {minted.json()['access_token']}"}

        person = f"/v1/people/{person_id}"
        async with httpx.AsyncClient(base_url=standalone.base_url, timeout=30) as admin:
            active = await admin.delete(person, headers=origin_admin)
            assert active.status_code == 409
            assert active.json()["type"].endswith("/person-active")
            deactivated = await admin.patch(person, headers=origin_admin, json={"active": False})
            assert deactivated.status_code == 200
            assert (await admin.delete(person, headers=origin_admin)).status_code == 204

            history = (await admin.get(
                f"/v1/referrals/{referral['id']}/history", headers=origin_admin)).json()["items"]
            disclosures = (await admin.get(
                f"/v1/cases/{case['id']}/disclosures", headers=origin_admin)).json()["items"]
            hers = [entry["actor"] for entry in [*history, *disclosures]
                    if entry["actor"]["id"] == person_id]
            assert hers
            assert all(actor["kind"] == "person" for actor in hers)
            pseudonyms = {actor["name"] for actor in hers}
            assert len(pseudonyms) == 1
            assert pseudonyms.pop().startswith("person-")
            assert "Nima" not in str(history) + str(disclosures)

            audit = (await admin.get(
                f"/v1/organizations/{origin['id']}/audit", headers=origin_admin)).json()["items"]
            assert ("person_deleted", person_id) in [(e["action"], e["target"]) for e in audit]
            people = (await admin.get(
                f"/v1/organizations/{origin['id']}/people", headers=origin_admin)).json()["items"]
            assert person_id not in [entry["id"] for entry in people]
            again, _ = await _enrolled(client=admin, organisation_id=origin["id"],
                                       admin=origin_admin, email=email, name="N. Gurung",
                                       role="viewer")  # her address may be invited again
            assert again != secret

        assert (await browser.get(f"/v1/cases/{case['id']}")).status_code == 401  # her session
        assert (await browser.get(f"/v1/cases/{case['id']}", headers=bearer)).status_code == 401
