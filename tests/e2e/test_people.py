"""A person's whole path through the gateway of a running network, in both modes: invited by
her organisation's admin, she accepts with a password and a TOTP authenticator, signs in, opens
a case and refers the person, and the referrals service's history and disclosure ledger name
her as the one who acted."""

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest

from gateway.tests.conftest import serving
from gateway.tests.people.fake_provider import FakeProvider, sign_in_through
from tests.e2e.flow import (
    PERSON,
    created,
    organisation_with_client,
    refer_when_receiver_known,
    service_body,
    token,
)
from tests.e2e.support import (
    ADMIN_SECRET,
    Network,
    WebhookReceiver,
    another_gateway,
    restarted,
    stop,
)
from waymark_gateway.people import totp
from waymark_kernel.testing import free_port

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


async def _invited_caseworker_signs_in_and_refers(
    network: Network, receiver: WebhookReceiver
) -> None:
    async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as client:
        origin, origin_admin, destination, service = await _organisations_and_service(client)
        await created(await client.post("/v1/subscriptions", headers=origin_admin, json={
            "url": receiver.url, "event_types": ["referral.*", "case.*"]}))
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
        feed = await browser.get("/v1/events", headers=origin_admin, params={"limit": 100})
        assert feed.status_code == 200, feed.text

    # Her own name and address are personal data too: in no event, webhook or log line.
    await receiver.wait_for(1)
    assert receiver.received
    assert {item["type"] for item in feed.json()["items"]} >= {"referral.requested"}
    for text in (feed.text, *(body.decode() for _, body in receiver.received),
                 network.log.read_text()):
        assert "Sita" not in text
        assert "sita.rai" not in text


async def test_standalone_network_signs_a_person_in_and_she_refers(
    standalone: Network, webhook_receiver: WebhookReceiver
) -> None:
    await _invited_caseworker_signs_in_and_refers(standalone, webhook_receiver)


async def test_distributed_network_signs_a_person_in_and_she_refers(
    distributed: Network, webhook_receiver: WebhookReceiver
) -> None:
    await _invited_caseworker_signs_in_and_refers(distributed, webhook_receiver)


async def _signs_in_through_her_societys_provider(network: Network) -> None:
    """Her National Society's OpenID Connect provider (a local fake that checks PKCE) signs
    her in: she accepts her invitation through it, opens a case, and the ledger names her."""
    async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as client:
        origin, origin_admin, destination, service = await _organisations_and_service(client)
        invitation = await created(await client.post(
            f"/v1/organizations/{origin['id']}/invitations", headers=origin_admin,
            json={"email": "bina.thapa@example.org", "roles": ["caseworker"]}))
    port = free_port()
    provider = FakeProvider(f"http://127.0.0.1:{port}", uuid.UUID(origin["id"]))
    provider.next_user = {"sub": "nrcs-user-17", "name": "Bina Thapa"}
    async with serving(provider.app, port):
        network = restarted(network, {
            "WAYMARK_SIGN_IN_PROVIDERS": json.dumps({"nrcs": provider.provider()})})
        try:
            async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as browser:
                done = await sign_in_through(
                    provider, browser, "nrcs", invitation=invitation["accept_url"].rsplit("/", 1)[1],
                    return_to="/cases")
                assert done.status_code == 303, done.text
                assert done.headers["location"] == "/cases"
                [asked] = provider.authorize_requests
                assert asked["code_challenge_method"] == "S256"
                session = (await browser.get("/v1/auth/session")).json()
                her = session["person"]
                assert (her["name"], her["email"], her["roles"]) == (
                    "Bina Thapa", "bina.thapa@example.org", ["caseworker"])
                csrf = {"X-CSRF-Token": session["csrf_token"]}
                case, _ = await _case_referred(browser, csrf, destination, service)
                ledger = await browser.get(f"/v1/cases/{case['id']}/disclosures")
                assert {"kind": "person", "id": her["id"], "name": "Bina Thapa"} in [
                    entry["actor"] for entry in ledger.json()["items"]]
                minted = await browser.post("/v1/auth/session/token", headers=csrf)
                claims = jwt.decode(minted.json()["access_token"],
                                    options={"verify_signature": False})
                assert claims["amr"] == ["ext", "mfa"]
                audit = await browser.get(
                    f"/v1/organizations/{origin['id']}/audit", headers=origin_admin)
                assert ("sign_in_external", her["id"], "success") in [
                    (entry["action"], entry["target"], entry["result"])
                    for entry in audit.json()["items"]]
        finally:
            stop(network)


async def test_standalone_network_signs_a_person_in_through_her_provider_with_pkce(
    standalone: Network,
) -> None:
    await _signs_in_through_her_societys_provider(standalone)


async def test_distributed_network_signs_a_person_in_through_her_provider_with_pkce(
    distributed: Network,
) -> None:
    await _signs_in_through_her_societys_provider(distributed)


async def test_a_deactivation_is_refused_by_another_gateway_process_within_5_s(
    distributed_with_redis: Network,
) -> None:
    """Two gateway processes share sessions (Redis) and deactivations (their database): she
    signs in at one, uses her session and her token at the other, and once her admin
    deactivates her at the first, the second refuses both within 5 seconds."""
    network = distributed_with_redis
    async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as client:
        admin = await token(client, "network-admin", ADMIN_SECRET)
        origin, origin_admin = await organisation_with_client(client, admin, "Desk", "NP")
        email = f"p{uuid.uuid4().hex[:6]}@example.org"
        secret, person_id = await _enrolled(
            client, origin["id"], origin_admin, email, "Maya Lama", "caseworker")
    with another_gateway(network) as other_url:
        async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as first, \
                httpx.AsyncClient(base_url=other_url, timeout=30) as second:
            csrf = await _signed_in(first, email, secret)
            minted = await first.post("/v1/auth/session/token", headers=csrf)
            bearer = {"Authorization": f"Bearer {minted.json()['access_token']}"}
            second.cookies.set("waymark_session", first.cookies["waymark_session"])
            assert (await second.get("/v1/auth/session")).json()["person"]["id"] == person_id
            case = await created(await second.post(
                "/v1/cases", headers=csrf, json={"person": PERSON, "vulnerabilities": []}))
            assert (await second.get("/v1/cases", headers=bearer)).status_code == 200

            deactivated = await first.patch(
                f"/v1/people/{person_id}", headers=origin_admin, json={"active": False})
            assert deactivated.status_code == 200
            started = time.monotonic()
            refused: set[str] = set()
            while refused != {"session", "token"}:
                assert time.monotonic() - started < 5, f"only {refused} refused after 5 s"
                if (await second.get(f"/v1/cases/{case['id']}")).status_code == 401:
                    refused.add("session")
                async with httpx.AsyncClient(base_url=other_url, timeout=30) as api:
                    if (await api.get("/v1/cases", headers=bearer)).status_code == 401:
                        refused.add("token")
                await asyncio.sleep(0.1)
            signed_in_again = await second.post("/v1/auth/sessions", json={
                "email": email, "password": PASSWORD,
                "code": totp.code_at(secret, totp.current_step() + 1)})
            assert signed_in_again.status_code == 401


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
