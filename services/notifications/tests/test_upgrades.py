"""Upgrades: a database at each earlier revision, holding what the service wrote (a webhook
subscription with its sealed secret, deliveries and their attempts, the feed, the inbox, the
organisations' read-model, processed events, as far as that revision's tables and columns hold
them), upgraded to the current revision, answers through the current API what it answered
before, and still signs with the subscription's secret."""

import base64
import os
import uuid
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from services.notifications.tests.conftest import (
    Notifications,
    Receiver,
    StartNotifications,
    StartReceiver,
)
from waymark_kernel.events import OrganizationChanged, ReferralChanged
from waymark_kernel.migrations import upgrade
from waymark_kernel.testing import (
    create_database,
    drop_database,
    revisions,
    table_rows,
    write_rows_as_at_revision,
)
from waymark_notifications.main import MIGRATIONS

EARLIER = revisions(MIGRATIONS)[:-1]


async def write_notifications(
    notifications: Notifications, receiver: Receiver
) -> dict[str, Any]:
    sender, destination = uuid.uuid4(), uuid.uuid4()
    await notifications.publish("organization.created", OrganizationChanged(
        organization_id=destination, name="Destination help", type="cso", country="LB",
        verified=True, email="desk@example.org",
    ))
    subscription = await notifications.subscribe(destination, receiver.url, "referral.*")
    await notifications.publish("referral.requested", ReferralChanged(
        referral_id=uuid.uuid4(), sender_org_id=sender, receiver_org_id=destination,
        status="requested", from_country="NP", to_country="LB", urgency="emergency", version=1,
    ))
    await notifications.attempts(subscription, 1)
    return {"organization": destination, "subscription": subscription}


async def read_notifications(
    notifications: Notifications, written: dict[str, Any]
) -> dict[str, Any]:
    headers = notifications.admin(written["organization"])
    subscription_id = written["subscription"]["id"]

    async def get(path: str) -> Any:
        response = await notifications.client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    subscription = await get(f"/v1/subscriptions/{subscription_id}")
    deliveries = await get(f"/v1/subscriptions/{subscription_id}/deliveries")
    feed = await get("/v1/events")
    inbox = await get("/v1/inbox")
    return {
        "subscription": {key: subscription[key] for key in ("url", "event_types", "description")},
        "deliveries": [(d["event_type"], d["status_code"]) for d in deliveries["items"]],
        "feed": [(item["id"], item["type"], item["data"]) for item in feed["items"]],
        "inbox": [(item["event_id"], item["summary"], item["read_at"]) for item in inbox["items"]],
    }


@pytest.mark.parametrize("revision", EARLIER)
async def test_notifications_written_at_an_earlier_revision_read_the_same_after_the_upgrade(
    start_notifications: StartNotifications, receiver: StartReceiver, database_url: str,
    revision: str,
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    endpoint = await receiver()
    written = await write_notifications(await start_notifications(encryption_key=key), endpoint)
    expected = await read_notifications(await start_notifications(encryption_key=key), written)
    assert expected["deliveries"]
    assert expected["feed"]
    assert expected["inbox"]
    if revision < "0002":  # the feed and the inbox came with 0002: webhooks alone before
        expected |= {"feed": [], "inbox": []}
    rows = await table_rows(database_url)

    url = await create_database(f"notifications_at_{revision}")
    try:
        await upgrade(url, MIGRATIONS, revision=revision)
        tables = await write_rows_as_at_revision(url, rows)
        assert {"notifications_subscriptions", "notifications_deliveries"} <= set(tables)
        await upgrade(url, MIGRATIONS)
        upgraded = await start_notifications(encryption_key=key, notifications_database_url=url)
        assert await read_notifications(upgraded, written) == expected

        # The secret was carried sealed and still opens: a test event is signed with it.
        tested = await upgraded.client.post(
            f"/v1/subscriptions/{written['subscription']['id']}/test",
            headers=upgraded.admin(written["organization"]),
        )
        assert tested.status_code in (200, 202), tested.text
        headers, body = (await endpoint.wait_for(2))[-1]
        assert Webhook(written["subscription"]["secret"]).verify(body, headers)["type"] == "webhook.test"
    finally:
        await drop_database(url)
