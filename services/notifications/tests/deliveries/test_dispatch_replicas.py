"""Two replicas of the notifications service, each consuming its share of the events and each
dispatching what is due: every event reaches the subscriber, and once it has been answered 2xx
it is never sent again (deliveries are leased while in flight, claimed with SKIP LOCKED).
Replicas run only in distributed mode, on PostgreSQL: standalone mode (SQLite) is one process
with one dispatcher, and SQLite has no row locks to claim with."""

import asyncio
import base64
import json
import os
import uuid

from services.notifications.tests.conftest import StartNotifications, StartReceiver
from waymark_kernel.events import ReferralChanged

DELIVERIES = 20
FAILURES = 4  # the first answers are 500: those deliveries are retried, by either replica


def requested(sender: uuid.UUID) -> ReferralChanged:
    return ReferralChanged(
        referral_id=uuid.uuid4(), sender_org_id=sender, receiver_org_id=uuid.uuid4(),
        status="requested", from_country="NP", to_country="LB", urgency="normal", version=1,
    )


async def test_postgresql_two_replicas_dispatching_together_deliver_each_event_once(
    start_notifications: StartNotifications, receiver: StartReceiver
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()  # replicas share the key of the secrets
    one = await start_notifications(encryption_key=key)
    two = await start_notifications(encryption_key=key)
    endpoint = await receiver(*[500] * FAILURES)
    org = uuid.uuid4()
    subscription = await one.subscribe(org, endpoint.url, "referral.*")

    events = await asyncio.gather(*(
        replica.publish("referral.requested", requested(org))
        for replica in [one, two] * (DELIVERIES // 2)
    ))
    attempts = await two.attempts(subscription, DELIVERIES + FAILURES)

    received = await endpoint.wait_for(DELIVERIES + FAILURES)
    answered_ok = [json.loads(body)["data"]["referral_id"] for _, body in received[FAILURES:]]
    assert sorted(answered_ok) == sorted(str(event.data["referral_id"]) for event in events)
    assert len(received) == DELIVERIES + FAILURES  # nothing sent again after its 2xx
    assert len({headers["webhook-id"] for headers, _ in received}) == DELIVERIES
    assert sorted(attempt["status_code"] for attempt in attempts) == [200] * DELIVERIES + [500] * FAILURES
