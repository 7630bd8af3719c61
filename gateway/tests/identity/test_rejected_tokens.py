"""Tokens of the built-in issuer's own key that still must not pass: wrong audience or issuer."""

import pytest

from gateway.tests.conftest import Network
from waymark_kernel.auth import NETWORK_ADMIN


@pytest.mark.parametrize(("issuer", "audience"), [
    ("waymark", "another-api"),
    ("someone-else", "waymark-api"),
])
async def test_a_token_for_another_audience_or_from_another_issuer_is_refused(
    network: Network, issuer: str, audience: str
) -> None:
    token = network.signing_key.issue(
        subject="intruder", organization_id=None, roles=[NETWORK_ADMIN], issuer=issuer,
        audience=audience, ttl_seconds=300,
    )

    response = await network.client.get(
        "/v1/organizations", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 401
    assert network.registry.state.calls == []
