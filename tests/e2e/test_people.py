"""A person's whole path through the gateway of a running network, in both modes: invited by
her organisation's admin, she accepts with a password and a TOTP authenticator, signs in, opens
a case and refers the person, and the referrals service's history and disclosure ledger name
her as the one who acted."""

import uuid

import httpx
from waymark_gateway.people import totp

from tests.e2e.flow import PERSON, created, organisation_with_client, refer_when_receiver_known
from tests.e2e.flow import service_body, token
from tests.e2e.support import ADMIN_SECRET, Network

PASSWORD = "Saffron-Harbour-Listens-31"


async def _invited_caseworker_signs_in_and_refers(network: Network) -> None:
    async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as client:
        admin = await token(client, "network-admin", ADMIN_SECRET)
        origin, origin_admin = await organisation_with_client(client, admin, "Origin desk", "NP")
        destination, destination_headers = await organisation_with_client(
            client, admin, "Destination desk", "LB")
        service = await created(await client.post(
            "/v1/services", headers=destination_headers,
            json=service_body(destination["id"], "LB", "Beirut"),
        ))
        invitation = await created(await client.post(
            f"/v1/organizations/{origin['id']}/invitations", headers=origin_admin,
            json={"email": "sita.rai@example.org", "roles": ["caseworker"]},
        ))
        invitation_token = invitation["accept_url"].rsplit("/", 1)[1]
        enrolled = await created(await client.post(
            f"/v1/invitations/{invitation_token}", json={"name": "Sita Rai", "password": PASSWORD},
        ))
        secret, person_id = enrolled["totp"]["secret"], enrolled["person"]["id"]

    async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as browser:
        signed_in = await created(await browser.post("/v1/auth/sessions", json={
            "email": "sita.rai@example.org", "password": PASSWORD,
            "code": totp.code_at(secret, totp.current_step()),
        }))
        csrf = {"X-CSRF-Token": signed_in["csrf_token"]}
        case = await created(await browser.post(
            "/v1/cases", headers=csrf, json={"person": PERSON, "vulnerabilities": ["domestic_worker"]},
        ))
        read = await browser.get(f"/v1/cases/{case['id']}")
        assert read.status_code == 200 and read.json()["person"]["given_name"] == PERSON["given_name"]
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
        assert ("sign_in", "success") in actions and ("sign_out", "success") in actions
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
        invitation = await created(await client.post(
            f"/v1/organizations/{origin['id']}/invitations", headers=origin_admin,
            json={"email": email, "roles": ["viewer"]},
        ))
        enrolled = await created(await client.post(
            f"/v1/invitations/{invitation['accept_url'].rsplit('/', 1)[1]}",
            json={"name": "Viewer", "password": PASSWORD},
        ))
        signed_in = await client.post("/v1/auth/sessions", json={
            "email": email, "password": PASSWORD,
            "code": totp.code_at(enrolled["totp"]["secret"], totp.current_step()),
        })
        stolen = signed_in.cookies["waymark_session"]
        await client.delete("/v1/auth/session", headers={"X-CSRF-Token": signed_in.json()["csrf_token"]})
    async with httpx.AsyncClient(base_url=standalone.base_url, cookies={"waymark_session": stolen}) as thief:
        assert (await thief.get("/v1/cases")).status_code == 401
        assert (await thief.get("/v1/auth/session")).status_code == 401
