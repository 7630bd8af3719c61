"""One standalone network (`waymark run`, demo data) for the API-level tests of this folder."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.support import ADMIN_SECRET, Network, start, stop


@pytest.fixture(scope="session")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    network = start("run", tmp_path_factory.mktemp("standalone"), {
        "WAYMARK_RATE_LIMIT": "off", "WAYMARK_WEBHOOK_ALLOW_INSECURE": "false",
    })
    yield network
    stop(network)


@pytest.fixture(scope="session")
def api(network: Network) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=network.base_url, timeout=30) as client:
        yield client


def bearer(api: httpx.Client, client_id: str, secret: str) -> dict[str, str]:
    response = api.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
    })
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="session")
def admin(api: httpx.Client) -> dict[str, str]:
    return bearer(api, "network-admin", ADMIN_SECRET)


def national_society(api: httpx.Client, admin: dict[str, str], country: str) -> dict[str, Any]:
    [society] = api.get(  # the network is ready only once the demo data is in place
        "/v1/organizations", params={"country": country, "type": "national_society"},
        headers=admin,
    ).json()["items"]
    assert isinstance(society, dict)
    return society


def client_of(
    api: httpx.Client, admin: dict[str, str], organization: dict[str, Any], *roles: str
) -> dict[str, str]:
    created = api.post(
        f"/v1/organizations/{organization['id']}/clients",
        json={"name": "API test client", "roles": list(roles)}, headers=admin,
    )
    assert created.status_code == 201, created.text
    return bearer(api, created.json()["client_id"], created.json()["client_secret"])


@pytest.fixture(scope="session")
def nepal(api: httpx.Client, admin: dict[str, str]) -> dict[str, Any]:
    return national_society(api, admin, "NP")


@pytest.fixture(scope="session")
def lebanon(api: httpx.Client, admin: dict[str, str]) -> dict[str, Any]:
    return national_society(api, admin, "LB")


@pytest.fixture(scope="session")
def nepal_caseworker(
    api: httpx.Client, admin: dict[str, str], nepal: dict[str, Any]
) -> dict[str, str]:
    """A caseworker client of the Nepal Red Cross Society (demo data)."""
    return client_of(api, admin, nepal, "caseworker")


@pytest.fixture(scope="session")
def lebanon_caseworker(
    api: httpx.Client, admin: dict[str, str], lebanon: dict[str, Any]
) -> dict[str, str]:
    return client_of(api, admin, lebanon, "caseworker")


@pytest.fixture(scope="session")
def lebanon_admin(
    api: httpx.Client, admin: dict[str, str], lebanon: dict[str, Any]
) -> dict[str, str]:
    return client_of(api, admin, lebanon, "org_admin")


@dataclass
class LimitedNetwork:
    api: httpx.Client
    admin: dict[str, str]
    nepal: dict[str, Any]
    lebanon: dict[str, Any]
    base_url: str

    def client(self, *roles: str) -> dict[str, str]:
        """Bearer headers of a new client of the Nepal Red Cross Society."""
        return client_of(self.api, self.admin, self.nepal, *roles)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LimitedNetwork]:
    """A network of its own with strict limits (caseworkers 5 calls an hour; per client, 3
    failed token requests an hour from one address and 3 tokens an hour; 8 clients an
    organisation), so that using them up disturbs no other test."""
    network = start("run", tmp_path_factory.mktemp("limited"), {
        "WAYMARK_RATE_LIMIT_BY_ROLE": "caseworker=5/hour",
        "WAYMARK_TOKEN_FAILURE_LIMIT_PER_CLIENT": "3/hour",
        "WAYMARK_TOKEN_LIMIT_PER_CLIENT": "3/hour",
        "WAYMARK_MAX_CLIENTS_PER_ORGANIZATION": "8",
    })
    try:
        with httpx.Client(base_url=network.base_url, timeout=30) as api:
            admin = bearer(api, "network-admin", ADMIN_SECRET)
            yield LimitedNetwork(
                api, admin, national_society(api, admin, "NP"),
                national_society(api, admin, "LB"), network.base_url,
            )
    finally:
        stop(network)
