"""Upgrades: the gateway's database at each revision of its history, holding what it wrote
(organisations' API clients, one of them revoked), upgraded to the current revision, still
lets each client in as before. With one revision so far the upgrade has nothing to do; the test
covers every revision a later migration leaves behind."""

import base64
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from gateway.tests.conftest import Network
from waymark_gateway.main import MIGRATIONS, create_app
from waymark_gateway.settings import GatewaySettings
from waymark_kernel.auth import CASEWORKER, ORG_ADMIN, VIEWER
from waymark_kernel.migrations import upgrade
from waymark_kernel.settings import RunMode
from waymark_kernel.signing import SigningKey
from waymark_kernel.testing import (
    create_database,
    drop_database,
    revisions,
    table_rows,
    write_rows_as_at_revision,
)


async def write_clients(network: Network) -> list[dict[str, Any]]:
    admin = network.headers(network.known_organization, ORG_ADMIN)
    clients = []
    for roles in ([CASEWORKER], [VIEWER]):
        response = await network.client.post(
            f"/v1/organizations/{network.known_organization}/clients",
            json={"name": f"Case system {uuid.uuid4().hex[:6]}", "roles": roles}, headers=admin,
        )
        assert response.status_code == 201, response.text
        clients.append(response.json())
    revoked = await network.client.delete(
        f"/v1/organizations/{network.known_organization}/clients/{clients[1]['client_id']}",
        headers=admin,
    )
    assert revoked.status_code == 204
    return clients


async def sign_in(client: httpx.AsyncClient, clients: list[dict[str, Any]]) -> list[Any]:
    """What each client's token request answers: its claims, or the error."""
    answers: list[tuple[Any, ...]] = []
    for credentials in clients:
        response = await client.post("/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        })
        if response.status_code != 200:
            answers.append((response.status_code, response.json()["error"]))
            continue
        claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
        answers.append((claims["sub"], claims["org"], sorted(claims["roles"])))
    return answers


@pytest.mark.parametrize("revision", revisions(MIGRATIONS))
async def test_clients_written_at_each_revision_sign_in_as_before_after_the_upgrade(
    network: Network, database_url: str, tmp_path: Path, revision: str
) -> None:
    clients = await write_clients(network)
    expected = await sign_in(network.client, clients)
    assert expected[1] == (401, "invalid_client")
    assert expected[0][1] == str(
        network.known_organization
    )
    rows = await table_rows(database_url)

    url = await create_database(f"gateway_at_{revision}")
    try:
        await upgrade(url, MIGRATIONS, revision=revision)
        assert "gateway_api_clients" in await write_rows_as_at_revision(url, rows)
        await upgrade(url, MIGRATIONS)
        app = create_app(
            GatewaySettings(mode=RunMode.distributed, gateway_database_url=url, data_dir=tmp_path,
                            admin_client_secret="gateway-upgrade-test-secret",
                            encryption_key=base64.b64encode(os.urandom(32)).decode()),
            signing_key=SigningKey.generate(),
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                assert await sign_in(client, clients) == expected
    finally:
        await drop_database(url)
