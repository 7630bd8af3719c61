"""A case's whole journey on the distributed network: no webhook body, no feed entry and no
inbox entry of any organisation holds one of the person's values."""

import asyncio
import json
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
from tests.e2e.support import ADMIN_SECRET, Network, WebhookReceiver

pytestmark = pytest.mark.integration  # starts networks of processes

# Every value of the person a careless payload could carry, and the digits of the phone number
# and the date of birth however they might be written.
PERSONAL_VALUES = [
    value for value in PERSON.values() if isinstance(value, str) and len(value) > 3
] + [*PERSON["family_name"].split("-"), PERSON["phone"].removeprefix("+977"), "19940317",
     "17/03/1994", "Sundays"]
LISTENS_TO = ("referral.", "case.")


def personal_values_in(text: str) -> list[str]:
    return [value for value in PERSONAL_VALUES if value.lower() in text.lower()]


async def until_accepted(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, Any]
) -> dict[str, Any]:
    """A new leg's receiver is known to the referrals service once its events came in."""
    response = await client.post(path, headers=headers, json=body)
    for _ in range(99):
        if response.status_code != 422:
            break
        await asyncio.sleep(0.2)
        response = await client.post(path, headers=headers, json=body)
    return await created(response)


async def transition(
    client: httpx.AsyncClient, headers: dict[str, Any], referral_id: str, **body: str
) -> None:
    current = await client.get(f"/v1/referrals/{referral_id}", headers=headers)
    response = await client.post(
        f"/v1/referrals/{referral_id}/transitions",
        headers={**headers, "If-Match": current.headers["ETag"]}, json=body,
    )
    assert response.status_code == 200, response.text


async def every_page(
    client: httpx.AsyncClient, path: str, headers: dict[str, Any], cursor_parameter: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 100} | ({cursor_parameter: cursor} if cursor else {})
        page = (await client.get(path, headers=headers, params=params)).json()
        items += page["items"]
        if not page["items"] or not page["next_cursor"] or page["next_cursor"] == cursor:
            return items
        cursor = page["next_cursor"]


async def test_no_personal_data_in_any_webhook_feed_or_inbox(
    distributed: Network, webhook_receiver: WebhookReceiver
) -> None:
    async with httpx.AsyncClient(base_url=distributed.base_url, timeout=30) as client:
        admin = await token(client, "network-admin", ADMIN_SECRET)
        parties = [
            await organisation_with_client(client, admin, name, country)
            for name, country in (("Origin desk", "NP"), ("Transit shelter", "LB"),
                                  ("Destination clinic", "CY"))
        ]
        (_origin, origin_headers), (transit, transit_headers), (destination, destination_headers) \
            = parties
        for _, headers in parties:
            await created(await client.post("/v1/subscriptions", headers=headers, json={
                "url": webhook_receiver.url, "event_types": ["referral.*", "case.*"],
            }))
        transit_service = await created(await client.post(
            "/v1/services", headers=transit_headers,
            json=service_body(transit["id"], "LB", "Beirut"),
        ))

        case = await created(await client.post(
            "/v1/cases", headers=origin_headers,
            json={"person": PERSON, "vulnerabilities": ["domestic_worker"]},
        ))
        consent = await client.put(f"/v1/cases/{case['id']}/consent", headers=origin_headers, json={
            "legal_basis": "consent", "scope": {"countries": ["LB", "CY"]},
            "given_at": "2026-11-20T10:00:00Z", "method": "verbal",
            "notes": f"{PERSON['given_name']} agreed on {PERSON['phone']}",
        })
        assert consent.status_code == 200, consent.text
        first_leg = await refer_when_receiver_known(client, origin_headers, {
            "case_id": case["id"], "receiver_org_id": transit["id"],
            "service_id": transit_service["id"], "migration_stage": "transit",
            "categories": transit_service["categories"], "urgency": "high",
            "reason": f"{PERSON['given_name']} needs shelter; call {PERSON['phone']}",
            "shared_fields": ["given_name", "family_name", "date_of_birth", "phone",
                              "safe_contact"],
        })
        await transition(client, transit_headers, first_leg["id"], to="accepted",
                         note=f"We will call {PERSON['given_name']} on Sunday")
        comment = await client.post(
            f"/v1/referrals/{first_leg['id']}/comments", headers=transit_headers,
            json={"text": f"Met {PERSON['given_name']} {PERSON['family_name']}, "
                          f"born {PERSON['date_of_birth']}: {PERSON['safe_contact']}"},
        )
        assert comment.status_code == 201, comment.text
        await transition(client, transit_headers, first_leg["id"], to="in_progress")

        second_leg = await until_accepted(
            client, f"/v1/referrals/{first_leg['id']}/onward", {
                "receiver_org_id": destination["id"], "migration_stage": "destination",
                "categories": ["health"], "urgency": "normal",
                "reason": f"{PERSON['given_name']} moves on to Cyprus",
                "shared_fields": ["given_name", "phone"],
            }, transit_headers,
        )
        await transition(client, destination_headers, second_leg["id"], to="accepted")
        await transition(client, destination_headers, second_leg["id"], to="completed",
                         outcome=f"{PERSON['given_name']} was seen by a doctor")
        withdrawn = await client.delete(f"/v1/cases/{case['id']}/consent", headers=origin_headers)
        assert withdrawn.status_code in (200, 204), withdrawn.text

        async def feeds() -> dict[str, list[dict[str, Any]]]:
            return {org["id"]: await every_page(client, "/v1/events", headers, "after")
                    for org, headers in parties}

        async def all_delivered() -> dict[str, list[dict[str, Any]]]:
            while True:
                feed = await feeds()
                types = {item["type"] for items in feed.values() for item in items}
                expected = sum(
                    item["type"].startswith(LISTENS_TO) for items in feed.values() for item in items
                )
                if "case.consent_withdrawn" in types and len(webhook_receiver.received) >= expected:
                    return feed
                await asyncio.sleep(0.2)

        feed = await asyncio.wait_for(all_delivered(), 60)
        inboxes = [
            await every_page(client, "/v1/inbox", headers, "cursor") for _, headers in parties
        ]

    delivered = [json.loads(body) for _, body in webhook_receiver.received]
    assert {payload["type"] for payload in delivered} >= {
        "referral.requested", "referral.accepted", "referral.comment_added",
        "referral.in_progress", "referral.completed", "referral.cancelled",
        "case.consent_withdrawn",
    }
    assert {payload["data"].get("referral_id") for payload in delivered} >= {
        first_leg["id"], second_leg["id"]
    }
    for _, body in webhook_receiver.received:
        assert personal_values_in(body.decode()) == [], body.decode()
    for items in [*feed.values(), *inboxes]:
        text = json.dumps(items, ensure_ascii=False)
        assert personal_values_in(text) == [], text
    assert any(item["event_type"].startswith("referral.") for items in inboxes for item in items)
