"""Events published on the broker reach, signed, exactly the organisations they concern."""

import asyncio
import json
import socket
import uuid
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlmodel import col
from standardwebhooks.webhooks import Webhook

from services.notifications.tests.conftest import Notifications, StartNotifications, StartReceiver
from waymark_kernel.events import ReferralChanged, ServiceChanged
from waymark_notifications.deliveries.dispatcher import Dispatcher
from waymark_notifications.deliveries.models import Delivery


def referral(sender: uuid.UUID, receiver: uuid.UUID, status: str = "requested") -> ReferralChanged:
    return ReferralChanged(
        referral_id=uuid.uuid4(), sender_org_id=sender, receiver_org_id=receiver, status=status,
        from_country="NP", to_country="LB", urgency="high", version=1,
    )


def service(organization: uuid.UUID) -> ServiceChanged:
    return ServiceChanged(
        service_id=uuid.uuid4(), organization_id=organization, status="active",
        accepts_referrals=True, countries=["LB"], categories=["legal"],
    )


async def deliveries_of(
    notifications: Notifications, subscription: dict[str, Any]
) -> list[Delivery]:
    async with notifications.app.state.database.transaction() as session:
        return list((await session.execute(
            select(Delivery).where(col(Delivery.subscription_id) == uuid.UUID(subscription["id"]))
        )).scalars())


async def test_events_reach_only_the_organisations_they_concern(
    notifications: Notifications, receiver: StartReceiver
) -> None:
    sender, destination, bystander = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    endpoints = {org: await receiver() for org in (sender, destination, bystander)}
    subscriptions = {
        sender: await notifications.subscribe(sender, endpoints[sender].url, "referral.*"),
        destination: await notifications.subscribe(destination, endpoints[destination].url, "*"),
        bystander: await notifications.subscribe(
            bystander, endpoints[bystander].url, "referral.requested", "service.*"
        ),
    }

    requested = await notifications.publish("referral.requested", referral(sender, destination))
    for org in (sender, destination):
        (headers, body), = await endpoints[org].wait_for(1)
        payload = Webhook(subscriptions[org]["secret"]).verify(body, headers)
        assert payload == {
            "type": "referral.requested", "timestamp": payload["timestamp"], "data": requested.data,
        }
        assert headers["Content-Type"] == "application/json"

    # A public registry change reaches every subscription that listens to it.
    created = await notifications.publish("service.created", service(sender))
    (headers, body), = await endpoints[bystander].wait_for(1)
    assert Webhook(subscriptions[bystander]["secret"]).verify(body, headers)["data"] == created.data
    await endpoints[destination].wait_for(2)

    bystander_deliveries = await deliveries_of(notifications, subscriptions[bystander])
    assert [delivery.event_type for delivery in bystander_deliveries] == ["service.created"]
    sender_deliveries = await deliveries_of(notifications, subscriptions[sender])
    assert [delivery.event_type for delivery in sender_deliveries] == ["referral.requested"]
    assert len(endpoints[sender].received) == 1


async def test_a_failing_endpoint_gets_the_same_webhook_until_it_answers(
    notifications: Notifications, receiver: StartReceiver
) -> None:
    org = uuid.uuid4()
    endpoint = await receiver(500, 500, 500)
    subscription = await notifications.subscribe(org, endpoint.url, "referral.accepted")

    await notifications.publish("referral.accepted", referral(uuid.uuid4(), org, "accepted"))
    received = await endpoint.wait_for(4)
    assert len({headers["webhook-id"] for headers, _ in received}) == 1
    verifier = Webhook(subscription["secret"])
    for headers, body in received:
        assert verifier.verify(body, headers)["type"] == "referral.accepted"

    attempts = await notifications.attempts(subscription, 4)
    assert [attempt["status_code"] for attempt in attempts] == [200, 500, 500, 500]
    assert [attempt["attempt"] for attempt in attempts] == [4, 3, 2, 1]
    assert [attempt["succeeded"] for attempt in attempts] == [True, False, False, False]
    assert {attempt["delivery_id"] for attempt in attempts} == {received[0][0]["webhook-id"]}
    assert attempts[1]["error"] == "HTTP 500 Internal Server Error"
    assert attempts[0]["error"] is None
    assert attempts[0]["response_excerpt"] == "ok"
    assert all(attempt["duration_ms"] >= 0 for attempt in attempts)

    page = (await notifications.client.get(
        f"/v1/subscriptions/{subscription['id']}/deliveries",
        headers=notifications.admin(org), params={"limit": 3},
    )).json()
    rest = (await notifications.client.get(
        f"/v1/subscriptions/{subscription['id']}/deliveries",
        headers=notifications.admin(org), params={"limit": 3, "cursor": page["next_cursor"]},
    )).json()
    assert [item["id"] for item in page["items"] + rest["items"]] == [a["id"] for a in attempts]
    assert rest["next_cursor"] is None


async def test_a_delivery_fails_once_the_schedule_is_used_up(
    start_notifications: StartNotifications, receiver: StartReceiver
) -> None:
    notifications = await start_notifications(webhook_retry_schedule=[0.05])
    org = uuid.uuid4()
    endpoint = await receiver(*[503] * 10)
    subscription = await notifications.subscribe(org, endpoint.url, "referral.*")

    await notifications.publish("referral.rejected", referral(org, uuid.uuid4(), "rejected"))
    attempts = await notifications.attempts(subscription, 2)
    assert [attempt["status_code"] for attempt in attempts] == [503, 503]
    (delivery,) = await deliveries_of(notifications, subscription)
    assert delivery.status == "failed"
    assert delivery.next_attempt_at is None
    shown = await notifications.client.get(
        f"/v1/subscriptions/{subscription['id']}", headers=notifications.admin(org)
    )
    assert shown.json()["enabled"] is True


async def test_410_disables_the_subscription_and_says_so(
    notifications: Notifications, receiver: StartReceiver
) -> None:
    org = uuid.uuid4()
    gone, watcher = await receiver(410), await receiver()
    subscription = await notifications.subscribe(org, gone.url, "referral.*")
    watching = await notifications.subscribe(org, watcher.url, "subscription.disabled")

    await notifications.publish("referral.completed", referral(uuid.uuid4(), org, "completed"))
    (headers, body), = await watcher.wait_for(1)
    payload = Webhook(watching["secret"]).verify(body, headers)
    assert payload["type"] == "subscription.disabled"
    assert payload["data"] == {
        "subscription_id": subscription["id"], "organization_id": str(org),
        "reason": "endpoint_gone",
    }
    shown = (await notifications.client.get(
        f"/v1/subscriptions/{subscription['id']}", headers=notifications.admin(org)
    )).json()
    assert shown["enabled"] is False
    assert shown["disabled_reason"] == "endpoint_gone"
    assert len(gone.received) == 1
    (attempt,) = await notifications.attempts(subscription, 1)
    assert attempt["status_code"] == 410
    assert attempt["succeeded"] is False

    # A disabled subscription gets nothing new; re-enabled, it does again.
    await notifications.publish("referral.failed", referral(uuid.uuid4(), org, "failed"))
    assert len(await deliveries_of(notifications, subscription)) == 1
    path = f"/v1/subscriptions/{subscription['id']}"
    enabled = await notifications.client.patch(
        path, headers=notifications.admin(org), json={"enabled": True}
    )
    assert enabled.json()["disabled_reason"] is None
    await notifications.publish("referral.on_hold", referral(uuid.uuid4(), org, "on_hold"))
    _, (_, body) = await gone.wait_for(2)
    assert json.loads(body)["type"] == "referral.on_hold"


async def test_the_test_event_is_sent_at_once_and_reported(
    notifications: Notifications, receiver: StartReceiver
) -> None:
    org = uuid.uuid4()
    endpoint = await receiver()
    subscription = await notifications.subscribe(org, endpoint.url, "referral.requested")
    path = f"/v1/subscriptions/{subscription['id']}"

    response = await notifications.client.post(f"{path}/test", headers=notifications.admin(org))
    assert response.status_code == 200, response.text
    attempt = response.json()
    assert attempt["event_type"] == "webhook.test"
    assert attempt["status_code"] == 200
    assert attempt["succeeded"] is True
    assert attempt["attempt"] == 1
    (headers, body), = endpoint.received
    assert headers["webhook-id"] == attempt["delivery_id"]
    payload = Webhook(subscription["secret"]).verify(body, headers)
    assert payload["type"] == "webhook.test"
    assert payload["data"] == {"subscription_id": subscription["id"], "organization_id": str(org)}
    logged = await notifications.client.get(f"{path}/deliveries", headers=notifications.admin(org))
    assert logged.json()["items"] == [attempt]


async def test_a_failed_test_event_is_reported_and_not_retried(
    notifications: Notifications, receiver: StartReceiver
) -> None:
    org = uuid.uuid4()
    endpoint = await receiver(500)
    subscription = await notifications.subscribe(org, endpoint.url, "*")
    response = await notifications.client.post(
        f"/v1/subscriptions/{subscription['id']}/test", headers=notifications.admin(org)
    )
    assert response.status_code == 200
    assert response.json()["status_code"] == 500
    assert response.json()["succeeded"] is False
    (delivery,) = await deliveries_of(notifications, subscription)
    assert delivery.status == "failed"
    assert delivery.attempts == 1


async def test_an_unreachable_endpoint_is_logged_with_its_error(
    notifications: Notifications, receiver: StartReceiver
) -> None:
    org = uuid.uuid4()
    with socket.socket() as bound_not_listening:  # its port refuses connections
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        subscription = await notifications.subscribe(org, f"http://127.0.0.1:{port}/hooks", "*")
        response = await notifications.client.post(
            f"/v1/subscriptions/{subscription['id']}/test", headers=notifications.admin(org)
        )
    attempt = response.json()
    assert attempt["status_code"] is None
    assert attempt["succeeded"] is False
    assert attempt["error"].startswith("Cannot connect")


async def test_after_rotation_both_secrets_sign_for_a_day(
    notifications: Notifications, receiver: StartReceiver
) -> None:
    org = uuid.uuid4()
    endpoint = await receiver()
    subscription = await notifications.subscribe(org, endpoint.url, "*")
    path = f"/v1/subscriptions/{subscription['id']}"
    rotated = await notifications.client.post(
        f"{path}/rotate-secret", headers=notifications.admin(org)
    )
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != subscription["secret"]

    await notifications.client.post(f"{path}/test", headers=notifications.admin(org))
    (headers, body), = endpoint.received
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new_secret).verify(body, headers)
    Webhook(subscription["secret"]).verify(body, headers)


async def test_an_endpoint_that_does_not_answer_holds_up_no_other(
    start_notifications: StartNotifications, receiver: StartReceiver
) -> None:
    notifications = await start_notifications(webhook_timeout_seconds=60)
    release = asyncio.Event()
    waiting: list[str] = []

    async def hang(request: web.Request) -> web.Response:
        waiting.append(request.headers["webhook-id"])
        await release.wait()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hooks", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    await web.SockSite(runner, listening).start()
    try:
        org = uuid.uuid4()
        await notifications.subscribe(
            org, f"http://127.0.0.1:{listening.getsockname()[1]}/hooks", "service.*"
        )
        answering = await receiver()
        await notifications.subscribe(org, answering.url, "service.*")

        # More events than the dispatcher sends at once: the silent endpoint could take every
        # slot for the whole minute of the timeout, were its share not limited.
        events = notifications.app.state.dispatcher.concurrency + 16
        for _ in range(events):
            await notifications.publish("service.updated", service(org))
        await answering.wait_for(events)
        assert len(waiting) == notifications.app.state.dispatcher.per_endpoint
    finally:
        release.set()
        await runner.cleanup()



async def test_an_answer_coming_back_while_others_are_logged_is_logged_too(
    notifications: Notifications, receiver: StartReceiver
) -> None:
    """Two webhooks leave together; the second answers only once the first is logged. Its
    answer is logged as well, not left for its lease to run out and be sent a second time."""
    organization = uuid.uuid4()
    quick, slow = await receiver(), await receiver()
    slow.hold = asyncio.Event()
    quick_subscription = await notifications.subscribe(organization, quick.url, "service.*")
    slow_subscription = await notifications.subscribe(organization, slow.url, "service.*")

    await notifications.publish("service.updated", service(organization))
    await notifications.attempts(quick_subscription, 1)
    slow.hold.set()

    (attempt,) = await notifications.attempts(slow_subscription, 1)
    assert attempt["succeeded"]
    assert len(slow.received) == 1


async def without_passes_of_its_own(notifications: Notifications) -> Dispatcher:
    """The dispatcher, after a last pass, looks again only when woken (by the end of a send)."""
    dispatcher: Dispatcher = notifications.app.state.dispatcher
    dispatcher.poll_seconds = 3600
    dispatcher.wake()
    await asyncio.sleep(0.2)
    return dispatcher


async def test_a_delivery_held_back_by_its_endpoints_limit_goes_when_a_send_to_it_ends(
    notifications: Notifications, receiver: StartReceiver
) -> None:
    dispatcher = await without_passes_of_its_own(notifications)
    organization = uuid.uuid4()
    held = await receiver()
    held.hold = asyncio.Event()
    await notifications.subscribe(organization, held.url, "service.*")
    for _ in range(dispatcher.per_endpoint + 1):
        await notifications.publish("service.updated", service(organization))
    await held.wait_for(dispatcher.per_endpoint)

    held.hold.set()
    await held.wait_for(dispatcher.per_endpoint + 1)


async def test_a_delivery_held_back_by_a_lack_of_slots_goes_when_a_slot_is_free(
    notifications: Notifications, receiver: StartReceiver
) -> None:
    dispatcher = await without_passes_of_its_own(notifications)
    dispatcher.concurrency = 1
    organization = uuid.uuid4()
    held = await receiver()
    held.hold = asyncio.Event()
    for _ in range(2):
        await notifications.subscribe(organization, held.url, "service.*")
    await notifications.publish("service.updated", service(organization))
    await held.wait_for(1)

    held.hold.set()
    await held.wait_for(2)



async def test_a_delivery_leased_for_room_taken_before_the_commit_is_given_back_at_once(
    start_notifications: StartNotifications, receiver: StartReceiver
) -> None:
    """Room is decided before the commit that leases a delivery; when it is gone by then, the
    lease is given back and the delivery goes as soon as a slot is free, not when it ends."""
    notifications = await start_notifications(webhook_timeout_seconds=10)  # a lease: 15 s
    dispatcher = await without_passes_of_its_own(notifications)
    dispatcher.concurrency = 1
    organization = uuid.uuid4()
    held = await receiver()
    held.hold = asyncio.Event()
    await notifications.subscribe(organization, held.url, "service.*")
    await notifications.publish("service.updated", service(organization))
    await held.wait_for(1)
    # decided too early: every endpoint has room (a stand-in, hence the ignore)
    dispatcher.room_for = lambda subscription_ids: set(subscription_ids)  # type: ignore[method-assign]

    await notifications.publish("service.updated", service(organization))
    held.hold.set()
    await asyncio.wait_for(held.wait_for(2), 5)
