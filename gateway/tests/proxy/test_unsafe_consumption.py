"""OWASP API10:2023 Unsafe Consumption of APIs: what a service answers is not trusted blindly."""

import asyncio

import httpx

from gateway.tests.conftest import StartGateway
from waymark_kernel.auth import VIEWER


async def raw_upstream(answer: bytes) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()
    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def call_through(start_gateway: StartGateway, answer: bytes) -> httpx.Response:
    server = await raw_upstream(answer)
    try:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with start_gateway(registry_url=url) as gateway:
            return await gateway.client.get(
                "/v1/organizations", headers=gateway.headers(None, VIEWER)
            )
    finally:
        server.close()
        await server.wait_closed()


async def test_api10_a_malformed_answer_of_a_service_is_a_502_problem(
    start_gateway: StartGateway
) -> None:
    response = await call_through(start_gateway, b"HTTP/1.1 2OO OK\r\n\r\n<html>stack</html>")

    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert "stack" not in response.text


async def test_api10_hop_by_hop_and_framing_headers_of_a_service_are_not_passed_on(
    start_gateway: StartGateway
) -> None:
    body = b'{"items": []}'
    response = await call_through(
        start_gateway,
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close, x-internal\r\n"
        b"keep-alive: timeout=99\r\nproxy-authenticate: Basic\r\nx-request-id: forged\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body),
    )

    assert response.status_code == 200
    assert response.json() == {"items": []}
    assert "keep-alive" not in response.headers
    assert "proxy-authenticate" not in response.headers
    assert response.headers["x-request-id"] != "forged"
