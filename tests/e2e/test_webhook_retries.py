"""Issue 17, finding 6: a receiver that keeps failing gets the attempts of the retry schedule and
no more, in standalone mode (SQLite, in-process broker) as in distributed mode (PostgreSQL,
RabbitMQ). A failure that was not recorded left the delivery leased, and it went again at each
lease's end (126 times in 7 minutes) instead of on the schedule."""

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.flow import refer_to_a_subscriber
from tests.e2e.support import Network, WebhookReceiver, network_of

pytestmark = pytest.mark.integration  # starts networks of processes

SCHEDULE = (1.0, 2.0)
JITTER = 0.1  # the schedule's own, either way
LATE = 1.0  # how late a loaded machine may wake the dispatcher
# A lease runs out this long after a send begins (the send timeout and the dispatcher's margin
# of 5 s); the window watched after the last attempt holds two of them.
TIMEOUT_SECONDS = 1
WATCHED_SECONDS = 2 * (TIMEOUT_SECONDS + 5) + 1


@pytest.fixture(params=["run", "up"], ids=["standalone", "distributed"])
def retrying(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Network]:
    with network_of(request.param, tmp_path, {
        "WAYMARK_WEBHOOK_RETRY_SCHEDULE": ",".join(map(str, SCHEDULE)),
        "WAYMARK_WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
    }) as network:
        yield network


async def test_finding_6_a_failing_receiver_gets_one_attempt_per_step_of_the_schedule_and_no_more(
    retrying: Network, failing_webhook_receiver: WebhookReceiver,
) -> None:
    receiver = failing_webhook_receiver
    await refer_to_a_subscriber(retrying.base_url, receiver, "Unpaid wages")
    await receiver.wait_for(len(SCHEDULE) + 1)
    await asyncio.sleep(WATCHED_SECONDS)  # a delivery left leased would go again meanwhile

    assert len(receiver.received) == len(SCHEDULE) + 1
    assert len({headers["webhook-id"] for headers, _ in receiver.received}) == 1
    gaps = [later - earlier for earlier, later in itertools.pairwise(receiver.arrived_at)]
    for gap, delay in zip(gaps, SCHEDULE, strict=True):
        assert delay * (1 - JITTER) - 0.05 <= gap <= delay * (1 + JITTER) + LATE, gaps
