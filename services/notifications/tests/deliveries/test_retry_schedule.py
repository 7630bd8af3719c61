"""The attempts a receiver actually gets follow the retry schedule, each one logged: never
more (a delivery whose failure was not logged went again at every lease's end), never sooner."""

import asyncio
import itertools
import uuid

import pytest

from services.notifications.tests.conftest import Notifications, StartNotifications, StartReceiver
from waymark_kernel.events import ReferralChanged
from waymark_notifications.deliveries import dispatcher

SCHEDULE = [0.3, 0.6]
JITTER = 0.1  # the schedule's own, either way
LATE = 0.4  # how late a loaded machine may wake the dispatcher
LEASE_SECONDS = 0.8  # send timeout and margin, shorter than the window watched


def referral(org: uuid.UUID) -> ReferralChanged:
    return ReferralChanged(
        referral_id=uuid.uuid4(), sender_org_id=uuid.uuid4(), receiver_org_id=org,
        status="accepted", from_country="NP", to_country="LB", urgency="high", version=1,
    )


@pytest.fixture
async def scheduled(
    start_notifications: StartNotifications, monkeypatch: pytest.MonkeyPatch
) -> Notifications:
    """The service retrying on `SCHEDULE`, its leases running out within the window watched."""
    monkeypatch.setattr(dispatcher, "LEASE_MARGIN_SECONDS", LEASE_SECONDS - 0.5)
    return await start_notifications(
        webhook_retry_schedule=SCHEDULE, webhook_timeout_seconds=0.5,
    )


def assert_gaps_follow_the_schedule(arrived_at: list[float]) -> None:
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrived_at)]
    for gap, delay in zip(gaps, SCHEDULE, strict=True):
        assert delay * (1 - JITTER) - 0.02 <= gap <= delay * (1 + JITTER) + LATE, gaps


async def test_finding_6_a_receiver_failing_throughout_gets_one_attempt_per_step_of_the_schedule(
    scheduled: Notifications, receiver: StartReceiver
) -> None:
    org = uuid.uuid4()
    endpoint = await receiver(*[500] * 100)
    subscription = await scheduled.subscribe(org, endpoint.url, "referral.accepted")

    await scheduled.publish("referral.accepted", referral(org))
    await endpoint.wait_for(len(SCHEDULE) + 1)
    await asyncio.sleep(3 * LEASE_SECONDS)  # a delivery left leased would go again meanwhile

    assert len(endpoint.received) == len(SCHEDULE) + 1
    assert_gaps_follow_the_schedule(endpoint.arrived_at)
    attempts = await scheduled.attempts(subscription, len(SCHEDULE) + 1)
    assert [(attempt["attempt"], attempt["status_code"]) for attempt in attempts] == [
        (3, 500), (2, 500), (1, 500),
    ]


async def test_500_500_200_shows_three_attempts_with_their_status_codes(
    scheduled: Notifications, receiver: StartReceiver
) -> None:
    org = uuid.uuid4()
    endpoint = await receiver(500, 500)
    subscription = await scheduled.subscribe(org, endpoint.url, "referral.accepted")

    await scheduled.publish("referral.accepted", referral(org))
    await endpoint.wait_for(3)
    attempts = await scheduled.attempts(subscription, 3)
    await asyncio.sleep(2 * LEASE_SECONDS)

    assert len(endpoint.received) == 3
    assert_gaps_follow_the_schedule(endpoint.arrived_at)
    assert [(attempt["attempt"], attempt["status_code"], attempt["succeeded"])
            for attempt in attempts] == [(3, 200, True), (2, 500, False), (1, 500, False)]
    assert len({attempt["delivery_id"] for attempt in attempts}) == 1
