"""Two replicas of the notifications service purge expired events and delivery bodies at the
same moment: both finish without error and what is still within retention stays, once."""

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select

from services.notifications.tests.conftest import StartNotifications
from waymark_kernel.events import ReferralChanged
from waymark_notifications.feed.models import FeedEvent
from waymark_notifications.retention import purge_expired


def requested(sender: uuid.UUID, receiver: uuid.UUID) -> ReferralChanged:
    return ReferralChanged(
        referral_id=uuid.uuid4(), sender_org_id=sender, receiver_org_id=receiver,
        status="requested", from_country="NP", to_country="LB", urgency="normal", version=1,
    )


async def test_two_replicas_purging_together_remove_the_expired_events_and_keep_the_rest(
    start_notifications: StartNotifications,
) -> None:
    one = await start_notifications(event_retention_days=1)
    two = await start_notifications(event_retention_days=1)
    org = uuid.uuid4()
    expired = [await one.publish("referral.requested", requested(org, uuid.uuid4())) for _ in range(20)]
    feed = await one.client.get("/v1/events", headers=one.admin(org))  # gives them positions
    assert len(feed.json()["items"]) == 20
    async with one.app.state.database.transaction() as session:  # two days pass for these
        for event in (await session.execute(select(FeedEvent))).scalars():
            event.recorded_at -= timedelta(days=2)
    kept = await two.publish("referral.requested", requested(org, uuid.uuid4()))

    await asyncio.gather(*(
        purge_expired(replica.app.state.database, replica.app.state.settings)
        for replica in (one, two, one, two)
    ))

    for replica in (one, two):
        feed = await replica.client.get("/v1/events", headers=replica.admin(org))
        assert [item["id"] for item in feed.json()["items"]] == [kept.id]
    assert kept.id not in {event.id for event in expired}
