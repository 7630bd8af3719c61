"""The end-to-end flow of the foundation, through the gateway only."""

import asyncio
import json
import uuid
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from tests.e2e.support import ADMIN_SECRET, WebhookReceiver

PERSON: dict[str, Any] = {
    "given_name": "Sunita", "family_name": "Tamang-Gurung", "date_of_birth": "1994-03-17",
    "sex": "female", "nationality": "NP", "languages": ["ne"], "phone": "+9779812345678",
    "current_country": "LB", "safe_contact": "Only on Sundays; the employer reads messages",
}


async def token(client: httpx.AsyncClient, client_id: str, secret: str) -> dict[str, str]:
    response = await client.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
    })
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def organisation_with_client(
    client: httpx.AsyncClient, admin: dict[str, str], name: str, country: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A verified organisation (a consent scope naming countries covers no other) and an API
    client of it."""
    organisation = await created(await client.post("/v1/organizations", headers=admin, json={
        "name": name, "type": "cso", "country": country, "languages": ["en"], "verified": True,
    }))
    credentials = await created(await client.post(
        f"/v1/organizations/{organisation['id']}/clients", headers=admin,
        json={"name": "e2e", "roles": ["org_admin", "caseworker"]},
    ))
    return organisation, await token(client, credentials["client_id"], credentials["client_secret"])


def service_body(organisation_id: str, country: str, city: str) -> dict[str, Any]:
    return {
        "organization_id": organisation_id, "name": f"Support desk {uuid.uuid4().hex[:6]}",
        "description": "Help for migrant domestic workers", "status": "active",
        "categories": ["legal", "livelihoods.labour_rights"],
        "accepts_referrals": True, "languages": ["en"],
        "populations": ["migrant_domestic_workers"], "migration_stages": ["destination"],
        "locations": [{"name": "Office", "city": city, "country": country,
                       "latitude": 33.89, "longitude": 35.50, "confidential": False}],
    }


async def refer_when_receiver_known(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any], timeout: float = 20
) -> dict[str, Any]:
    """The referrals service learns of new services from events: retry until it has."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await client.post(
            "/v1/referrals", headers={**headers, "Idempotency-Key": uuid.uuid4().hex}, json=body
        )
        if response.status_code == 201 or asyncio.get_running_loop().time() > deadline:
            return await created(response)
        assert response.status_code == 422, response.text
        await asyncio.sleep(0.2)


async def run_flow(base_url: str, receiver: WebhookReceiver) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        admin = await token(client, "network-admin", ADMIN_SECRET)
        origin, origin_headers = await organisation_with_client(client, admin, "Origin help", "NP")
        destination, destination_headers = await organisation_with_client(
            client, admin, "Destination help", "LB"
        )
        await created(await client.post(
            "/v1/services", headers=origin_headers,
            json=service_body(origin["id"], "NP", "Kathmandu"),
        ))
        destination_service = await created(await client.post(
            "/v1/services", headers=destination_headers,
            json=service_body(destination["id"], "LB", "Beirut"),
        ))
        subscription = await created(await client.post(
            "/v1/subscriptions", headers=destination_headers,
            json={"url": receiver.url, "event_types": ["referral.*"], "description": "e2e"},
        ))

        case = await created(await client.post(
            "/v1/cases", headers=origin_headers,
            json={"person": PERSON, "vulnerabilities": ["domestic_worker"]},
        ))
        consent = await client.put(f"/v1/cases/{case['id']}/consent", headers=origin_headers, json={
            "legal_basis": "consent", "scope": {"countries": ["LB"]},
            "given_at": "2026-11-20T10:00:00Z", "method": "verbal", "notes": "explained in Nepali",
        })
        assert consent.status_code == 200, consent.text

        referral = await refer_when_receiver_known(client, origin_headers, {
            "case_id": case["id"], "receiver_org_id": destination["id"],
            "service_id": destination_service["id"], "migration_stage": "destination",
            "categories": destination_service["categories"], "urgency": "high",
            "reason": "Unpaid wages and passport withheld",
            "shared_fields": ["given_name", "phone", "safe_contact"],
        })
        assert referral["status"] == "requested"

        seen = await client.get(f"/v1/referrals/{referral['id']}", headers=destination_headers)
        assert seen.status_code == 200, seen.text
        accepted = await client.post(
            f"/v1/referrals/{referral['id']}/transitions",
            headers={**destination_headers, "If-Match": seen.headers["ETag"]},
            json={"to": "accepted", "note": "we will call on Sunday"},
        )
        assert accepted.status_code == 200, accepted.text

        await receiver.wait_for(2)
        verifier = Webhook(subscription["secret"])
        delivered = []
        for headers, body in receiver.received:
            payload = verifier.verify(body, headers)  # raises unless signed per Standard Webhooks
            delivered.append(payload["type"])
            assert payload["data"]["referral_id"] == referral["id"]
            for value in PERSON.values():
                if isinstance(value, str) and len(value) > 3:
                    assert value not in body.decode(), "personal data in a webhook"
        assert sorted(delivered) == ["referral.accepted", "referral.requested"]

        final = await client.get(f"/v1/referrals/{referral['id']}", headers=origin_headers)
        assert final.status_code == 200
        assert final.json()["status"] == "accepted"
        assert json.loads(final.text)["person"]["given_name"] == PERSON["given_name"]


async def refer_to_a_subscriber(
    base_url: str, receiver: WebhookReceiver, reason: str
) -> dict[str, Any]:
    """A referral from a new Nepalese organisation to a new Lebanese one subscribed to
    `referral.requested` at `receiver`."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        admin = await token(client, "network-admin", ADMIN_SECRET)
        _, origin_headers = await organisation_with_client(client, admin, "Origin", "NP")
        destination, destination_headers = await organisation_with_client(
            client, admin, "Destination", "LB"
        )
        service = await created(await client.post(
            "/v1/services", headers=destination_headers,
            json=service_body(destination["id"], "LB", "Beirut"),
        ))
        await created(await client.post(
            "/v1/subscriptions", headers=destination_headers,
            json={"url": receiver.url, "event_types": ["referral.requested"]},
        ))
        case = await created(await client.post(
            "/v1/cases", headers=origin_headers, json={"person": PERSON},
        ))
        consent = await client.put(f"/v1/cases/{case['id']}/consent", headers=origin_headers, json={
            "legal_basis": "consent", "scope": {"countries": ["LB"]},
            "given_at": "2026-11-20T10:00:00Z", "method": "verbal",
        })
        assert consent.status_code == 200, consent.text
        return await refer_when_receiver_known(client, origin_headers, {
            "case_id": case["id"], "receiver_org_id": destination["id"],
            "service_id": service["id"], "migration_stage": "destination",
            "categories": service["categories"], "urgency": "high", "reason": reason,
            "shared_fields": ["given_name", "phone"],
        })
