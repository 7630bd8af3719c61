"""The event catalogue and the pull feed of each organisation."""

import base64
import uuid
from typing import Any

import jsonschema
import pytest

from services.notifications.tests.conftest import Notifications, StartNotifications
from waymark_kernel.events import EVENT_TYPES, ReferralChanged, ServiceChanged, SubscriptionDisabled
from waymark_notifications.retention import purge_expired


def referral(sender: uuid.UUID, receiver: uuid.UUID, status: str = "requested") -> ReferralChanged:
    return ReferralChanged(
        referral_id=uuid.uuid4(), sender_org_id=sender, receiver_org_id=receiver, status=status,
        from_country="NP", to_country="LB", urgency="normal", version=1,
    )


async def feed(notifications: Notifications, org: uuid.UUID, **params: Any) -> dict[str, Any]:
    response = await notifications.client.get(
        "/v1/events", headers=notifications.admin(org), params=params
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_catalogue_lists_every_type_with_the_schema_of_its_body(
    notifications: Notifications
) -> None:
    org = uuid.uuid4()
    response = await notifications.client.get(
        "/v1/event-types", headers=notifications.issuer.headers(org, "viewer")
    )
    assert response.status_code == 200
    page = response.json()
    assert [entry["type"] for entry in page["items"]] == sorted(EVENT_TYPES)
    assert page["next_cursor"] is None
    accepted = next(entry for entry in page["items"] if entry["type"] == "referral.accepted")
    body = {
        "type": "referral.accepted", "timestamp": "2026-11-23T10:00:00Z",
        "data": referral(org, uuid.uuid4(), "accepted").model_dump(mode="json"),
    }
    jsonschema.validate(body, accepted["schema"])
    for wrong in ({**body, "type": "referral.rejected"}, {**body, "data": {"name": "x"}}):
        try:
            jsonschema.validate(wrong, accepted["schema"])
        except jsonschema.ValidationError:
            continue
        raise AssertionError(f"the schema accepted {wrong}")

    first = (await notifications.client.get(
        "/v1/event-types", headers=notifications.admin(org), params={"limit": 5}
    )).json()
    rest = (await notifications.client.get(
        "/v1/event-types", headers=notifications.admin(org),
        params={"limit": 100, "cursor": first["next_cursor"]},
    )).json()
    assert [e["type"] for e in first["items"] + rest["items"]] == sorted(EVENT_TYPES)


async def test_the_feed_holds_an_organisations_events_in_order(
    notifications: Notifications
) -> None:
    sender, destination, bystander = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    requested = await notifications.publish("referral.requested", referral(sender, destination))
    public = await notifications.publish("service.created", ServiceChanged(
        service_id=uuid.uuid4(), organization_id=bystander, status="active",
        accepts_referrals=True, countries=["LB"], categories=["legal"],
    ))
    disabled = await notifications.publish("subscription.disabled", SubscriptionDisabled(
        subscription_id=uuid.uuid4(), organization_id=sender, reason="endpoint_gone",
    ))

    everything = await feed(notifications, sender)
    assert [item["id"] for item in everything["items"]] == [requested.id, public.id, disabled.id]
    assert everything["items"][0] == {
        "id": requested.id, "type": "referral.requested",
        "timestamp": requested.time.isoformat().replace("+00:00", "Z"), "data": requested.data,
    }
    assert [i["id"] for i in (await feed(notifications, destination))["items"]] == [
        requested.id, public.id,
    ]
    assert [i["id"] for i in (await feed(notifications, bystander))["items"]] == [public.id]

    # Paging with `after`; the cursor stays put while nothing is new, then shows what came.
    first = await feed(notifications, sender, limit=1)
    second = await feed(notifications, sender, after=first["next_cursor"])
    assert [item["id"] for item in second["items"]] == [public.id, disabled.id]
    idle = await feed(notifications, sender, after=second["next_cursor"])
    assert idle == {"items": [], "next_cursor": second["next_cursor"]}
    later = await notifications.publish(
        "referral.accepted", referral(sender, destination, "accepted")
    )
    news = await feed(notifications, sender, after=idle["next_cursor"])
    assert [item["id"] for item in news["items"]] == [later.id]


async def test_a_bad_cursor_is_a_problem(notifications: Notifications) -> None:
    org = uuid.uuid4()
    for cursor in ("not-a-cursor", "WyJ4Il0="):  # the second decodes to ["x"]
        response = await notifications.client.get(
            "/v1/events", headers=notifications.admin(org), params={"after": cursor}
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("payload", [b"[99999999999999999999999]", b"[true]", b"[-1]", b"[1.5]"])
async def test_finding_7_a_cursor_out_of_the_feeds_range_is_a_400_not_a_500(
    notifications: Notifications, payload: bytes
) -> None:
    response = await notifications.client.get(
        "/v1/events", headers=notifications.admin(uuid.uuid4()),
        params={"after": base64.urlsafe_b64encode(payload).decode()},
    )

    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("invalid-cursor")


async def test_the_feed_forgets_events_after_the_retention_period(
    start_notifications: StartNotifications
) -> None:
    notifications = await start_notifications(event_retention_days=0)
    org = uuid.uuid4()
    await notifications.publish("referral.requested", referral(org, uuid.uuid4()))
    assert len((await feed(notifications, org))["items"]) == 1
    await purge_expired(notifications.app.state.database, notifications.app.state.settings)
    assert (await feed(notifications, org))["items"] == []
