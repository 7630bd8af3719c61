"""Bad input on every public route, through the gateway: a clear 4xx problem, never a 500."""

import base64
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import jwt
import pytest

from tests.e2e.support import ADMIN_SECRET, Network, start, stop
from waymark_kernel.signing import SigningKey

pytestmark = pytest.mark.integration  # starts networks of processes

PROBLEM = "application/problem+json"
WRITE_METHODS = {"post", "put", "patch"}


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    folder = tmp_path_factory.mktemp("bad-input")
    running = start("run", folder, {"WAYMARK_SEED_DEMO": "false"})
    yield running
    stop(running)


@pytest.fixture(scope="module")
def routes(network: Network) -> list[tuple[str, str, bool, bool]]:
    """(method, path with random ids, takes a JSON body, needs a token) for every route; the
    document marks those that need none, such as signing in, with `security: []`."""
    document = httpx.get(f"{network.base_url}/openapi.json").json()
    found = []
    for path, operations in document["paths"].items():
        if not path.startswith("/v1/") or path == "/v1/auth/token":
            continue
        concrete = "/".join(
            str(uuid.uuid4()) if part.startswith("{") else part for part in path.split("/")
        )
        for method, operation in operations.items():
            takes_json = "application/json" in operation.get("requestBody", {}).get("content", {})
            found.append((method, concrete, takes_json, operation.get("security") != []))
    assert len(found) > 20, "the merged API document lists the services' routes"
    return found


def admin_token(client: httpx.Client) -> str:
    response = client.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": "network-admin", "client_secret": ADMIN_SECRET,
    })
    access_token: str = response.json()["access_token"]
    return access_token


def bad_tokens(network: Network, genuine: str) -> dict[str, str]:
    claims = jwt.decode(genuine, options={"verify_signature": False})
    real_key = SigningKey.from_pem((network.data_dir / "gateway-signing-key.pem").read_bytes())
    expired = {**claims, "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    return {
        "forged": jwt.encode(claims, SigningKey.generate().private_key, algorithm="EdDSA",
                             headers={"kid": real_key.kid}),
        "expired": jwt.encode(expired, real_key.private_key, algorithm="EdDSA",
                              headers={"kid": real_key.kid}),
        "alg none": f"{header.decode()}.{body.decode()}.",
        "garbage": "not-a-token",
    }


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, (response.request.method, response.request.url, response.text)
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert problem["status"] == status
    assert "Traceback" not in response.text


def test_every_route_refuses_missing_forged_expired_and_unsigned_tokens(
    network: Network, routes: list[tuple[str, str, bool, bool]]
) -> None:
    with httpx.Client(base_url=network.base_url) as client:
        tokens = bad_tokens(network, admin_token(client))
        for method, path, _, needs_token in routes:
            if not needs_token:
                continue
            assert_problem(client.request(method, path), 401)
            for token in tokens.values():
                response = client.request(method, path, headers={"Authorization": f"Bearer {token}"})
                assert_problem(response, 401)


def test_a_token_in_the_url_is_refused(network: Network) -> None:
    with httpx.Client(base_url=network.base_url) as client:
        token = admin_token(client)
        assert_problem(client.get("/v1/organizations", params={"access_token": token}), 401)


def test_every_write_refuses_unknown_fields_wrong_types_and_broken_json(
    network: Network, routes: list[tuple[str, str, bool, bool]]
) -> None:
    with httpx.Client(base_url=network.base_url) as client:
        headers = {"Authorization": f"Bearer {admin_token(client)}"}
        for method, path, takes_json, _ in routes:
            if method not in WRITE_METHODS or not takes_json:
                continue
            for body in ({"surely_not_a_field": 1}, [1, 2, 3], "text", 42):
                response = client.request(method, path, json=body, headers=headers)
                assert 400 <= response.status_code < 500, (method, path, response.text)
                assert response.headers["content-type"].startswith(PROBLEM)
            broken = client.request(method, path, content=b"{not json", headers={
                **headers, "Content-Type": "application/json"})
            assert 400 <= broken.status_code < 500, (method, path, broken.text)


def test_creating_with_an_unknown_field_is_a_validation_problem_and_creates_nothing(
    network: Network
) -> None:
    with httpx.Client(base_url=network.base_url) as client:
        headers = {"Authorization": f"Bearer {admin_token(client)}"}
        response = client.post("/v1/organizations", headers=headers, json={
            "name": "Should not exist", "type": "cso", "country": "NP", "legal_status": "x",
        })
        assert_problem(response, 422)
        assert any("legal_status" in error["location"] for error in response.json()["errors"])
        wrong_type = client.post("/v1/organizations", headers=headers, json={
            "name": ["Should not exist"], "type": "cso", "country": "NP",
        })
        assert_problem(wrong_type, 422)
        listed = client.get("/v1/organizations", headers=headers, params={"q": "Should not exist"})
        assert listed.json()["items"] == []


def test_oversized_bodies_huge_pages_and_unknown_routes(network: Network) -> None:
    with httpx.Client(base_url=network.base_url) as client:
        headers = {"Authorization": f"Bearer {admin_token(client)}"}
        huge = client.post("/v1/organizations", headers={**headers, "Content-Type": "application/json"},
                           content=b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}')
        assert_problem(huge, 413)
        assert_problem(client.get("/v1/organizations", headers=headers, params={"limit": 100000}), 422)
        assert_problem(client.get("/v1/services", headers=headers, params={"cursor": "%%%"}), 400)
        missing = client.get("/v1/no-such-thing", headers={**headers, "X-Request-ID": "trace-me-42"})
        assert missing.status_code == 404
        assert missing.headers["x-request-id"] == "trace-me-42"
