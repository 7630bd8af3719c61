import pytest

from tests.e2e.flow import run_flow
from tests.e2e.support import Network, WebhookReceiver

pytestmark = pytest.mark.integration  # starts networks of processes


async def test_standalone_network_refers_a_person_end_to_end(
    standalone: Network, webhook_receiver: WebhookReceiver
) -> None:
    await run_flow(standalone.base_url, webhook_receiver)


async def test_distributed_network_refers_a_person_end_to_end(
    distributed: Network, webhook_receiver: WebhookReceiver
) -> None:
    await run_flow(distributed.base_url, webhook_receiver)
