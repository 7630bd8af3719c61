"""Listing and revoking an organisation's clients: a revoked client gets no token, and the
tokens it holds stop working at once here and within seconds at every other replica."""

import asyncio
from typing import Any

import httpx

from gateway.tests.conftest import Gateway, Network, StartGateway
from waymark_kernel.auth import CASEWORKER, NETWORK_ADMIN, ORG_ADMIN


async def created_client(gateway: Gateway, headers: dict[str, str]) -> dict[str, Any]:
    response = await gateway.client.post(
        f"/v1/organizations/{gateway.known_organization}/clients",
        json={"name": "Partner case system", "roles": [CASEWORKER]}, headers=headers,
    )
    assert response.status_code == 201, response.text
    client: dict[str, Any] = response.json()
    return client


async def client_token(gateway: Gateway, client: dict[str, Any]) -> httpx.Response:
    return await gateway.client.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": client["client_id"],
        "client_secret": client["client_secret"],
    })


async def test_a_revoked_clients_tokens_stop_working_and_it_gets_no_new_one(
    network: Network
) -> None:
    admin = network.headers(network.known_organization, ORG_ADMIN)
    client = await created_client(network, admin)
    token = (await client_token(network, client)).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    before = await network.client.get("/v1/organizations", headers=bearer)

    revoked = await network.client.delete(
        f"/v1/organizations/{network.known_organization}/clients/{client['client_id']}",
        headers=admin,
    )
    after = await network.client.get("/v1/organizations", headers=bearer)
    new_token = await client_token(network, client)
    listed = await network.client.get(
        f"/v1/organizations/{network.known_organization}/clients", headers=admin
    )

    assert before.status_code == 200
    assert revoked.status_code == 204
    assert after.status_code == 401
    assert after.json()["type"] == "https://waymark.network/problems/unauthenticated"
    assert new_token.status_code == 401
    assert new_token.json()["error"] == "invalid_client"
    [item] = [item for item in listed.json()["items"] if item["client_id"] == client["client_id"]]
    assert item["revoked_at"] is not None
    assert "client_secret" not in item
    assert "secret_hash" not in item


async def test_another_replica_refuses_a_revoked_clients_token_within_seconds(
    start_gateway: StartGateway, network: Network
) -> None:
    key = network.signing_key
    async with start_gateway(signing_key=key, revocation_refresh_seconds=0.05) as replica:
        client = await created_client(network, network.headers(None, NETWORK_ADMIN))
        token = (await client_token(network, client)).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        await network.client.delete(
            f"/v1/organizations/{network.known_organization}/clients/{client['client_id']}",
            headers=network.headers(None, NETWORK_ADMIN),
        )
        clients = f"/v1/organizations/{network.known_organization}/clients"
        answer = await replica.client.get(clients, headers=bearer)
        for _ in range(99):  # the replica reloads the revoked clients every 50 ms
            if answer.status_code == 401:
                break
            await asyncio.sleep(0.05)
            answer = await replica.client.get(clients, headers=bearer)

    assert answer.status_code == 401


async def test_only_the_organisations_admin_may_list_or_revoke_its_clients(
    network: Network
) -> None:
    client = await created_client(network, network.headers(None, NETWORK_ADMIN))
    path = f"/v1/organizations/{network.known_organization}/clients"
    caseworker = network.headers(network.known_organization, CASEWORKER)
    other_admin = network.headers(network.other_organization, ORG_ADMIN)

    assert (await network.client.get(path, headers=caseworker)).status_code == 403
    assert (await network.client.get(path, headers=other_admin)).status_code == 403
    revoke = f"{path}/{client['client_id']}"
    assert (await network.client.delete(revoke, headers=caseworker)).status_code == 403
    assert (await network.client.delete(revoke, headers=other_admin)).status_code == 403
    missing = await network.client.delete(
        f"{path}/wm_missing", headers=network.headers(network.known_organization, ORG_ADMIN)
    )
    assert missing.status_code == 404
    assert (await client_token(network, client)).status_code == 200
