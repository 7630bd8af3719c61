import asyncio
import uuid
from typing import Any

import httpx
import jwt

from gateway.tests.conftest import Gateway, Network, Serve, Standin, StartGateway
from waymark_kernel.auth import CASEWORKER, NETWORK_ADMIN, ORG_ADMIN, VIEWER


async def create_client(
    network: Gateway, organization_id: uuid.UUID, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await network.client.post(
        f"/v1/organizations/{organization_id}/clients",
        json={"name": "Partner case system", "roles": [CASEWORKER], **body}, headers=headers,
    )


async def token_response(network: Gateway, client_id: str, client_secret: str) -> httpx.Response:
    return await network.client.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
    })


async def test_a_created_client_gets_a_token_with_its_organisation_and_roles(
    network: Network
) -> None:
    created = await create_client(
        network, network.known_organization, network.headers(None, NETWORK_ADMIN),
        roles=[CASEWORKER, VIEWER],
    )

    assert created.status_code == 201, created.text
    client = created.json()
    assert client["client_id"].startswith("wm_")
    assert client["organization_id"] == str(network.known_organization)
    assert client["roles"] == [CASEWORKER, VIEWER]
    assert client["name"] == "Partner case system"
    response = await token_response(network, client["client_id"], client["client_secret"])
    assert response.status_code == 200
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == client["client_id"]
    assert claims["org"] == str(network.known_organization)
    assert sorted(claims["roles"]) == [CASEWORKER, VIEWER]


async def test_a_created_client_with_a_wrong_secret_is_an_invalid_client(network: Network) -> None:
    client = (await create_client(
        network, network.known_organization, network.headers(None, NETWORK_ADMIN)
    )).json()

    response = await token_response(network, client["client_id"], client["client_secret"] + "x")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_the_registry_is_asked_with_the_callers_token(network: Network) -> None:
    headers = network.headers(network.known_organization, ORG_ADMIN)

    created = await create_client(network, network.known_organization, headers)

    assert created.status_code == 201
    [call] = network.registry.state.calls
    assert call.path == f"/v1/organizations/{network.known_organization}"
    assert call.headers["authorization"] == headers["Authorization"]
    assert call.headers["x-request-id"] == created.headers["x-request-id"]


async def test_an_org_admin_of_another_organisation_may_not_create_clients(
    network: Network
) -> None:
    response = await create_client(
        network, network.known_organization, network.headers(network.other_organization, ORG_ADMIN)
    )

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 403
    assert network.registry.state.calls == []


async def test_a_caseworker_may_not_create_clients_of_its_own_organisation(
    network: Network
) -> None:
    response = await create_client(
        network, network.known_organization,
        network.headers(network.known_organization, CASEWORKER),
    )

    assert response.status_code == 403


async def test_clients_of_a_missing_organisation_are_not_found(network: Network) -> None:
    response = await create_client(network, uuid.uuid4(), network.headers(None, NETWORK_ADMIN))

    assert response.status_code == 404
    assert response.json()["type"] == "https://waymark.network/problems/not-found"


async def test_creating_a_client_needs_a_token(network: Network) -> None:
    response = await create_client(network, network.known_organization, {})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_network_admin_is_never_granted_to_a_created_client(network: Network) -> None:
    response = await create_client(
        network, network.known_organization, network.headers(None, NETWORK_ADMIN),
        roles=[NETWORK_ADMIN],
    )

    assert response.status_code == 422
    assert response.json()["type"] == "https://waymark.network/problems/validation-error"


async def test_unknown_fields_in_a_client_are_rejected(network: Network) -> None:
    response = await create_client(
        network, network.known_organization, network.headers(None, NETWORK_ADMIN),
        client_secret="chosen-by-the-caller",
    )

    assert response.status_code == 422


async def test_clients_of_an_unreachable_registry_are_a_bad_gateway(
    start_gateway: StartGateway, unused_port: int
) -> None:
    async with start_gateway(registry_url=f"http://127.0.0.1:{unused_port}") as gateway:
        response = await create_client(
            gateway, gateway.known_organization, gateway.headers(None, NETWORK_ADMIN)
        )

    assert response.status_code == 502
    assert response.json()["detail"] == "The registry service is unavailable; try again shortly."


async def active_clients(
    gateway: Gateway, organization_id: uuid.UUID, headers: dict[str, str]
) -> list[dict[str, Any]]:
    listed = await gateway.client.get(
        f"/v1/organizations/{organization_id}/clients", params={"limit": 100}, headers=headers
    )
    assert listed.status_code == 200
    assert listed.json()["next_cursor"] is None
    return [client for client in listed.json()["items"] if client["revoked_at"] is None]


async def revoke(
    gateway: Gateway, organization_id: uuid.UUID, client_id: str, headers: dict[str, str]
) -> None:
    revoked = await gateway.client.delete(
        f"/v1/organizations/{organization_id}/clients/{client_id}", headers=headers
    )
    assert revoked.status_code == 204


async def test_finding_9_an_organisation_holds_at_most_the_configured_number_of_clients(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    organization = uuid.UUID("0b7e4c3a-1d2e-4f5a-8b9c-0d1e2f3a4b5c")  # the stand-in knows it
    async with serve(standin("registry")) as registry_url, start_gateway(
        registry_url=registry_url, max_clients_per_organization=3,
    ) as gateway:
        org_admin = gateway.headers(organization, ORG_ADMIN)
        for client in await active_clients(gateway, organization, org_admin):  # other tests'
            await revoke(gateway, organization, client["client_id"], org_admin)

        at_once = await asyncio.gather(*(
            create_client(gateway, organization, org_admin) for _ in range(5)
        ))
        held = await active_clients(gateway, organization, org_admin)
        await revoke(gateway, organization, held[0]["client_id"], org_admin)
        after_revoking_one = await create_client(gateway, organization, org_admin)
        by_the_network_admin = await create_client(
            gateway, organization, gateway.headers(None, NETWORK_ADMIN)
        )

    assert sorted(answer.status_code for answer in at_once) == [201, 201, 201, 409, 409]
    refused = next(answer for answer in at_once if answer.status_code == 409)
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "https://waymark.network/problems/too-many-clients"
    assert "3 active API clients" in refused.json()["detail"]
    assert len(held) == 3
    assert after_revoking_one.status_code == 201  # revoked clients do not count
    assert by_the_network_admin.status_code == 409
