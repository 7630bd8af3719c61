"""A receiver down for longer than the whole schedule: disabled, told, and made whole by a
replay; and the retry of one delivery."""

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks.webhooks import Webhook

from services.notifications.tests.conftest import (
    Notifications,
    Receiver,
    StartNotifications,
    StartReceiver,
)
from waymark_kernel.events import ReferralChanged
from waymark_notifications.deliveries.models import Delivery
from waymark_notifications.retention import purge_expired


def referral(sender: uuid.UUID, receiver: uuid.UUID, status: str) -> ReferralChanged:
    return ReferralChanged(
        referral_id=uuid.uuid4(), sender_org_id=sender, receiver_org_id=receiver, status=status,
        from_country="NP", to_country="LB", urgency="normal", version=1,
    )


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 15) -> None:
    async def polled() -> None:
        while not await check():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(polled(), seconds)


async def test_a_long_outage_disables_and_a_replay_delivers_everything(
    start_notifications: StartNotifications, receiver: StartReceiver
) -> None:
    notifications = await start_notifications(webhook_disable_after_seconds=0.2)
    org, partner = uuid.uuid4(), uuid.uuid4()
    endpoint = await receiver(*[503] * 10_000)
    subscription = await notifications.subscribe(org, endpoint.url, "referral.*")
    path = f"/v1/subscriptions/{subscription['id']}"
    started = datetime.now(UTC)

    before = [
        await notifications.publish(f"referral.{status}", referral(org, partner, status))
        for status in ("requested", "accepted")
    ]

    async def disabled() -> bool:
        shown = await notifications.client.get(path, headers=notifications.admin(org))
        return shown.json()["enabled"] is False
    await until(disabled)
    shown = (await notifications.client.get(path, headers=notifications.admin(org))).json()
    assert shown["disabled_reason"] == "failed_for_5_days"

    async def told() -> bool:
        inbox = await notifications.client.get("/v1/inbox", headers=notifications.admin(org))
        return any(item["event_type"] == "subscription.disabled" for item in inbox.json()["items"])
    await until(told)
    (notice,) = [
        item for item in (await notifications.client.get(
            "/v1/inbox", headers=notifications.admin(org)
        )).json()["items"] if item["event_type"] == "subscription.disabled"
    ]
    assert notice["subscription_id"] == subscription["id"]
    assert notice["reason"] == "failed_for_5_days"
    assert "failed_for_5_days" in notice["summary"]

    during = await notifications.publish("referral.completed", referral(org, partner, "completed"))
    feed = (await notifications.client.get("/v1/events", headers=notifications.admin(org))).json()
    expected = [event.id for event in (*before, during)]
    referral_events = [item["id"] for item in feed["items"] if item["type"].startswith("referral.")]
    assert referral_events == expected

    endpoint.statuses.clear()
    outage = len(endpoint.received)  # what came so far was answered 503
    enabled = await notifications.client.patch(
        path, headers=notifications.admin(org), json={"enabled": True}
    )
    assert enabled.json()["enabled"] is True
    replayed = await notifications.client.post(
        f"{path}/replay", headers=notifications.admin(org),
        json={"since": (started - timedelta(seconds=1)).isoformat(),
              "until": (datetime.now(UTC) + timedelta(seconds=1)).isoformat()},
    )
    assert replayed.status_code == 202, replayed.text
    assert replayed.json() == {"scheduled": 3}

    async def all_delivered() -> bool:
        return len(_applied(endpoint, subscription, outage)) == 3
    await until(all_delivered)
    applied = _applied(endpoint, subscription, outage)
    assert sorted(applied.values()) == sorted(
        ["referral.requested", "referral.accepted", "referral.completed"]
    )
    again = await notifications.client.post(
        f"{path}/replay", headers=notifications.admin(org), json={"since": started.isoformat()}
    )
    assert again.json() == {"scheduled": 0}


def _applied(
    endpoint: Receiver, subscription: dict[str, Any], answered_from: int
) -> dict[str, str]:
    """What a receiver deduplicating on webhook-id applied: webhook-id → type."""
    verifier = Webhook(subscription["secret"])
    applied = {}
    for headers, body in endpoint.received[answered_from:]:
        if headers["webhook-id"] not in applied:
            payload = verifier.verify(body, headers)
            applied[headers["webhook-id"]] = payload["type"]
    return applied


async def test_replay_requests_are_checked(
    notifications: Notifications, receiver: StartReceiver
) -> None:
    org = uuid.uuid4()
    subscription = await notifications.subscribe(org, (await receiver()).url, "*")
    path = f"/v1/subscriptions/{subscription['id']}/replay"
    now = datetime.now(UTC)
    for body in (
        {"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()},
        {"since": now.isoformat(), "extra": 1},
        {},
    ):
        response = await notifications.client.post(
            path, headers=notifications.admin(org), json=body
        )
        assert response.status_code == 422, body
    other = await notifications.client.post(
        path, headers=notifications.admin(uuid.uuid4()), json={"since": now.isoformat()}
    )
    assert other.status_code == 404
    viewer = await notifications.client.post(
        path, headers=notifications.issuer.headers(org, "viewer"), json={"since": now.isoformat()}
    )
    assert viewer.status_code == 403


async def test_one_delivery_can_be_retried(
    start_notifications: StartNotifications, receiver: StartReceiver
) -> None:
    notifications = await start_notifications(webhook_retry_schedule=[0.05])
    org = uuid.uuid4()
    endpoint = await receiver(500, 500)
    subscription = await notifications.subscribe(org, endpoint.url, "referral.*")
    await notifications.publish("referral.rejected", referral(uuid.uuid4(), org, "rejected"))
    first, _ = await notifications.attempts(subscription, 2)
    path = f"/v1/subscriptions/{subscription['id']}/deliveries/{first['delivery_id']}/retry"

    # Once failed for good, a retry sends it now, with the same webhook-id, and reports it.
    response = await notifications.client.post(path, headers=notifications.admin(org))
    assert response.status_code == 200, response.text
    attempt = response.json()
    assert attempt["attempt"] == 3
    assert attempt["succeeded"] is True
    assert attempt["delivery_id"] == first["delivery_id"]
    assert {headers["webhook-id"] for headers, _ in endpoint.received} == {first["delivery_id"]}
    assert json.loads(endpoint.received[-1][1])["type"] == "referral.rejected"

    missing = await notifications.client.post(
        f"/v1/subscriptions/{subscription['id']}/deliveries/{uuid.uuid4()}/retry",
        headers=notifications.admin(org),
    )
    assert missing.status_code == 404
    other = await notifications.client.post(path, headers=notifications.admin(uuid.uuid4()))
    assert other.status_code == 404


async def test_request_bodies_are_dropped_after_the_retention_period(
    start_notifications: StartNotifications, receiver: StartReceiver
) -> None:
    notifications = await start_notifications(delivery_body_retention_days=0)
    org = uuid.uuid4()
    endpoint = await receiver()
    subscription = await notifications.subscribe(org, endpoint.url, "referral.*")
    await notifications.publish("referral.accepted", referral(uuid.uuid4(), org, "accepted"))
    (attempt,) = await notifications.attempts(subscription, 1)
    await purge_expired(notifications.app.state.database, notifications.app.state.settings)
    async with notifications.app.state.database.transaction() as session:
        assert (await session.get(Delivery, uuid.UUID(attempt["delivery_id"]))).body is None

    # The feed still has the event, so the delivery can be sent again, unchanged.
    path = f"/v1/subscriptions/{subscription['id']}/deliveries/{attempt['delivery_id']}/retry"
    response = await notifications.client.post(path, headers=notifications.admin(org))
    assert response.json()["succeeded"] is True
    (_, first), (_, second) = endpoint.received
    assert first == second
