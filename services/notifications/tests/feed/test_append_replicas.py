"""Two replicas of the notifications service give feed positions at the same time (their
background appenders and their readers): a partner following the feed through either replica
while events arrive at both sees each event once, and both replicas serve one order."""

import asyncio
import uuid

from services.notifications.tests.conftest import Notifications, StartNotifications
from waymark_kernel.events import ReferralChanged

EVENTS = 30


def requested(sender: uuid.UUID) -> ReferralChanged:
    return ReferralChanged(
        referral_id=uuid.uuid4(), sender_org_id=sender, receiver_org_id=uuid.uuid4(),
        status="requested", from_country="NP", to_country="LB", urgency="normal", version=1,
    )


async def follow(replicas: list[Notifications], org: uuid.UUID, count: int) -> list[str]:
    """The feed read page after page, each page from the next replica, until `count` events."""
    seen: list[str] = []
    after: str | None = None
    turn = 0
    while len(seen) < count:
        replica = replicas[turn % len(replicas)]
        turn += 1
        page = await replica.client.get(
            "/v1/events", headers=replica.admin(org), params={"after": after} if after else {},
        )
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json()["items"]]
        after = page.json()["next_cursor"] or after
        await asyncio.sleep(0.01)
    return seen


async def test_a_partner_following_the_feed_through_two_replicas_sees_each_event_once(
    start_notifications: StartNotifications,
) -> None:
    one = await start_notifications()
    two = await start_notifications()
    org = uuid.uuid4()

    async def publish_all() -> list[str]:
        published = []
        for replica in [one, two] * (EVENTS // 2):
            published.append((await replica.publish("referral.requested", requested(org))).id)
        return published

    published, seen = await asyncio.gather(
        publish_all(), asyncio.wait_for(follow([one, two], org, EVENTS), 60)
    )

    assert len(seen) == EVENTS
    assert set(seen) == set(published)
    feeds = [
        [item["id"] for item in (await replica.client.get(
            "/v1/events", headers=replica.admin(org), params={"limit": 100}
        )).json()["items"]]
        for replica in (one, two)
    ]
    assert feeds[0] == feeds[1]
    assert set(feeds[0]) == set(published)
