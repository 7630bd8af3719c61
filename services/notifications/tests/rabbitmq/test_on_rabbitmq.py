"""The notifications process on real RabbitMQ: killed in a burst, a long outage, rotation,
filters. Distributed mode, whose database is PostgreSQL (standalone mode's same guarantees are
tested in-process on both databases)."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import NullPool, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col
from standardwebhooks.webhooks import Webhook

from services.notifications.tests.rabbitmq.conftest import Network
from waymark_kernel.events import ReferralChanged, ServiceChanged
from waymark_notifications.deliveries.models import Delivery
from waymark_notifications.subscriptions.patterns import matches

BURST = 1_000
STATUSES = ("requested", "accepted", "rejected", "completed")


def referral(sender: uuid.UUID, receiver: uuid.UUID, status: str) -> ReferralChanged:
    return ReferralChanged(
        referral_id=uuid.uuid4(), sender_org_id=sender, receiver_org_id=receiver, status=status,
        from_country="NP", to_country="LB", urgency="normal", version=1,
    )


def service(organization_id: uuid.UUID) -> ServiceChanged:
    return ServiceChanged(
        service_id=uuid.uuid4(), organization_id=organization_id, status="active",
        accepts_referrals=True, countries=["LB"], categories=["legal"],
    )


async def feed_ids(network: Network, organization_id: uuid.UUID) -> list[str]:
    """Every event id of the organisation's feed, paging with `after`."""
    ids, after = [], None
    while True:
        params = {"limit": 100} | ({"after": after} if after else {})
        page = (await network.client.get(
            "/v1/events", headers=network.admin(organization_id), params=params
        )).json()
        ids += [item["id"] for item in page["items"]]
        if not page["items"]:
            return ids
        after = page["next_cursor"]


async def enqueued_deliveries(database_url: str) -> Sequence[Any]:
    """(subscription_id, event_id) of every delivery, read from the service's database."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(
                select(col(Delivery.subscription_id), col(Delivery.event_id))
            )).all()
    finally:
        await engine.dispose()


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 60) -> None:
    async def polled() -> None:
        while not await check():
            await asyncio.sleep(0.05)
    await asyncio.wait_for(polled(), seconds)


async def test_postgresql_killed_during_a_burst_it_delivers_everything_once(
    network: Network
) -> None:
    process = await network.start()
    organizations = [uuid.uuid4() for _ in range(3)]
    outsider = uuid.uuid4()
    patterns = {
        organizations[0]: ["referral.*"], organizations[1]: ["*"],
        organizations[2]: ["referral.requested", "referral.accepted"],
    }
    endpoints = {org: network.endpoint(org) for org in organizations}
    for org in organizations:
        await network.subscribe(endpoints[org], *patterns[org])
    pairs = [(a, b) for a in (*organizations, outsider) for b in organizations if a != b]
    burst = [
        (f"referral.{STATUSES[n % 4]}", referral(*pairs[n % len(pairs)], STATUSES[n % 4]))
        for n in range(BURST)
    ]
    expected = {
        org: {
            str(data.referral_id) for event_type, data in burst
            if org in (data.sender_org_id, data.receiver_org_id)
            and matches(patterns[org], event_type)
        }
        for org in organizations
    }

    async def publish_all() -> None:
        for event_type, data in burst:
            await network.publish(event_type, data)

    publishing = asyncio.create_task(publish_all())

    async def busy() -> bool:
        return sum(len(endpoint.applied) for endpoint in endpoints.values()) >= 100
    await until(busy)
    await process.kill()
    await asyncio.sleep(0.2)
    await network.restart(process)
    await publishing

    for org in organizations:
        await endpoints[org].wait_for(len(expected[org]))
    for org in organizations:
        endpoint = endpoints[org]
        assert endpoint.forged == 0
        # Applied once per webhook-id, and one webhook-id per event: nothing twice.
        assert len(endpoint.applied) == len(expected[org])
        assert set(endpoint.event_ids()) == expected[org]
        for payload in endpoint.applied.values():
            assert str(org) in (
                payload["data"]["sender_org_id"], payload["data"]["receiver_org_id"]
            )
    everything_of_the_third = {
        str(data.referral_id) for _, data in burst
        if organizations[2] in (data.sender_org_id, data.receiver_org_id)
    }
    feed = await feed_ids(network, organizations[2])
    assert len(feed) == len(set(feed)) == len(everything_of_the_third)


async def test_postgresql_an_outage_longer_than_the_schedule_is_made_whole_by_a_replay(
    network: Network,
) -> None:
    await network.start(webhook_disable_after_seconds="0.5")
    org, partner = uuid.uuid4(), uuid.uuid4()
    endpoint = network.endpoint(org, status=503)
    subscription = await network.subscribe(endpoint, "referral.*")
    path = f"/v1/subscriptions/{subscription['id']}"
    started = datetime.now(UTC) - timedelta(seconds=1)
    sent = [await network.publish(f"referral.{s}", referral(org, partner, s)) for s in STATUSES]

    async def disabled() -> bool:
        shown = (await network.client.get(path, headers=network.admin(org))).json()
        return shown["enabled"] is False
    await until(disabled)

    async def told() -> bool:
        inbox = (await network.client.get("/v1/inbox", headers=network.admin(org))).json()
        return any(item["event_type"] == "subscription.disabled" for item in inbox["items"])
    await until(told)
    inbox = (await network.client.get("/v1/inbox", headers=network.admin(org))).json()
    (notice,) = [item for item in inbox["items"] if item["event_type"] == "subscription.disabled"]
    assert notice["reason"] == "failed_for_5_days"
    assert notice["subscription_id"] == subscription["id"]
    assert inbox["unread_count"] >= 1

    sent += [await network.publish(f"referral.{s}", referral(partner, org, s)) for s in STATUSES]
    referral_ids = [event.data["referral_id"] for event in sent]

    async def all_in_feed() -> bool:
        return len(await feed_ids(network, org)) == len(sent) + 1  # and subscription.disabled
    await until(all_in_feed)
    assert endpoint.applied == {}

    endpoint.status = 200
    enabled = await network.client.patch(path, headers=network.admin(org), json={"enabled": True})
    assert enabled.status_code == 200
    replayed = await network.client.post(
        f"{path}/replay", headers=network.admin(org), json={"since": started.isoformat()}
    )
    assert replayed.status_code == 202
    assert replayed.json() == {"scheduled": len(sent)}
    await endpoint.wait_for(len(sent))
    assert sorted(endpoint.event_ids()) == sorted(referral_ids)


async def test_postgresql_filters_wildcards_and_a_rotated_secret(
    network: Network, database_url: str
) -> None:
    await network.start()
    org, other = uuid.uuid4(), uuid.uuid4()
    family, exact, everything, registry = (network.endpoint(org) for _ in range(4))
    subscriptions = [
        await network.subscribe(family, "referral.*"),
        await network.subscribe(exact, "referral.accepted"),
        await network.subscribe(everything, "*"),
        await network.subscribe(registry, "service.*"),
    ]
    old_secret = everything.secret
    rotated = await network.client.post(
        f"/v1/subscriptions/{subscriptions[2]['id']}/rotate-secret", headers=network.admin(org)
    )
    everything.secret = rotated.json()["secret"]

    requested = await network.publish("referral.requested", referral(org, other, "requested"))
    accepted = await network.publish("referral.accepted", referral(other, org, "accepted"))
    public = await network.publish("service.created", service(other))
    elsewhere = await network.publish(
        "referral.requested", referral(other, uuid.uuid4(), "requested")
    )

    async def consumed() -> bool:  # deliveries are enqueued with the feed row, in one commit
        return elsewhere.id in await feed_ids(network, other)
    await until(consumed)
    rows = await enqueued_deliveries(database_url)
    enqueued: dict[str, set[str]] = {}
    for row in rows:
        enqueued.setdefault(str(row.subscription_id), set()).add(str(row.event_id))
    assert enqueued == {
        subscriptions[0]["id"]: {requested.id, accepted.id},
        subscriptions[1]["id"]: {accepted.id},
        subscriptions[2]["id"]: {requested.id, accepted.id, public.id},
        subscriptions[3]["id"]: {public.id},
    }
    await everything.wait_for(3)
    await family.wait_for(2)
    await exact.wait_for(1)
    await registry.wait_for(1)
    assert everything.forged == 0

    # During the overlap every webhook carries two signatures; each secret verifies one.
    assert old_secret is not None
    assert everything.secret is not None
    for headers, body in everything.raw:
        assert len(headers["webhook-signature"].split(" ")) == 2
        assert Webhook(old_secret).verify(body, headers) == Webhook(everything.secret).verify(
            body, headers
        )
