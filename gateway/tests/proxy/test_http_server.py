"""The HTTP server in front of the gateway, configured as `waymark run` and `waymark up` do:
it refuses oversized request heads before buffering them, keeps serving afterwards, and leaves
X-Forwarded-For to the gateway."""

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.tests.conftest import Serve, StartGateway
from waymark_gateway.server import (
    MAX_HEAD_BYTES,
    MAX_HEADER_FIELDS,
    MAX_REQUEST_TARGET_BYTES,
    SERVER_OPTIONS,
)


@pytest.fixture
async def served(start_gateway: StartGateway, serve: Serve) -> AsyncIterator[str]:
    async with start_gateway(
        token_failure_limit_per_client="off", token_failure_limit_per_address="2/hour",
    ) as gateway, serve(gateway.app, **SERVER_OPTIONS) as url:
        yield url


async def raw_exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends `request` as it is and reads the answer until the server closes the connection."""
    address = urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()  # to the end: the server closes after a refusal
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *fields = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (f.partition(": ") for f in fields)}
    return int(status_line.split()[1]), headers, body


async def still_serving(url: str) -> int:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{url}/healthz")).status_code


async def test_an_enormous_header_is_refused_before_it_ends_and_the_server_keeps_serving(
    served: str
) -> None:
    # The value never ends: the server must answer without waiting for the rest.
    request = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Padding: " + b"x" * MAX_HEAD_BYTES

    status, headers, body = await raw_exchange(served, request)

    assert status == 431
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-content-type-options"] == "nosniff"
    assert json.loads(body)["status"] == 431
    assert await still_serving(served) == 200


async def test_too_many_header_fields_are_refused(served: str) -> None:
    fields = b"".join(b"X-Field-%d: 1\r\n" % number for number in range(MAX_HEADER_FIELDS + 1))
    request = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n" + fields + b"\r\n"

    status, _headers, body = await raw_exchange(served, request)

    assert status == 431
    assert str(MAX_HEADER_FIELDS) in json.loads(body)["detail"]
    assert await still_serving(served) == 200


async def test_an_overlong_request_target_is_refused(served: str) -> None:
    target = b"/healthz?padding=" + b"x" * MAX_REQUEST_TARGET_BYTES
    request = b"GET " + target + b" HTTP/1.1\r\nHost: gateway\r\n\r\n"

    status, headers, _ = await raw_exchange(served, request)

    assert status == 414
    assert headers["content-type"] == "application/problem+json"
    assert await still_serving(served) == 200


async def test_headers_the_gateway_accepts_pass_the_server(served: str) -> None:
    async with httpx.AsyncClient() as client:
        within = await client.get(f"{served}/healthz", headers={
            **{f"X-Field-{number}": "1" for number in range(MAX_HEADER_FIELDS - 10)},
            "X-Padding": "x" * (14 * 1024),
        })
        # Over the gateway's 16 KiB but within the server's bound: the gateway's own 431.
        over = await client.get(f"{served}/healthz", headers={"X-Padding": "x" * (17 * 1024)})

    assert within.status_code == 200
    assert over.status_code == 431
    assert "16384 bytes" in over.json()["detail"]


async def test_the_server_leaves_x_forwarded_for_to_the_gateway(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as client:
        statuses = [
            (await client.post(
                "/v1/auth/token", headers={"X-Forwarded-For": f"198.51.100.{number}"},
                data={"grant_type": "client_credentials", "client_id": f"wm_guess{number}",
                      "client_secret": "guess"},
            )).status_code
            for number in range(3)
        ]

    assert statuses == [401, 401, 429]  # loopback is no trusted proxy: one address, one budget
