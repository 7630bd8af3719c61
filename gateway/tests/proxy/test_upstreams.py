import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from fastapi import FastAPI

from gateway.tests.conftest import Gateway, Serve, Standin, StartGateway
from waymark_gateway.main import AsgiUpstream, HttpUpstream, Upstream
from waymark_gateway.proxy.upstreams import UpstreamError, UpstreamResponse
from waymark_kernel.auth import CASEWORKER, VIEWER


def in_process(
    start_gateway: StartGateway, standin: Standin
) -> tuple[dict[str, FastAPI], contextlib.AbstractAsyncContextManager[Gateway]]:
    services = {name: standin(name) for name in ("registry", "referrals", "notifications")}
    upstreams: dict[str, Upstream] = {
        name: AsgiUpstream(app, timeout=1.0) for name, app in services.items()
    }
    return services, start_gateway(upstreams=upstreams)


async def test_a_service_called_in_process_gets_the_whole_request(
    start_gateway: StartGateway, standin: Standin
) -> None:
    services, gateway_context = in_process(start_gateway, standin)
    async with gateway_context as gateway:
        headers = {**gateway.headers(gateway.known_organization, CASEWORKER), "X-Request-ID": "r-1"}
        response = await gateway.client.post(
            "/v1/subscriptions/5a0c1f3e/test", params={"dry": "yes"}, content=b"{}",
            headers=headers,
        )

    assert response.status_code == 201
    assert response.json() == {
        "service": "notifications", "method": "POST", "path": "/v1/subscriptions/5a0c1f3e/test",
        "query": "dry=yes", "body_size": 2,
    }
    assert response.headers.get_list("x-request-id") == ["r-1"]
    [call] = services["notifications"].state.calls
    assert call.headers["authorization"] == headers["Authorization"]


async def test_a_service_failing_in_process_answers_500(
    start_gateway: StartGateway, standin: Standin
) -> None:
    _, gateway_context = in_process(start_gateway, standin)
    async with gateway_context as gateway:
        response = await gateway.client.get(
            "/v1/cases/broken", headers=gateway.headers(gateway.known_organization, VIEWER)
        )

    assert response.status_code == 500


async def test_a_service_too_slow_in_process_is_a_gateway_timeout(
    start_gateway: StartGateway, standin: Standin
) -> None:
    _, gateway_context = in_process(start_gateway, standin)
    async with gateway_context as gateway:
        response = await gateway.client.get(
            "/v1/events/slow", headers=gateway.headers(gateway.known_organization, VIEWER)
        )

    assert response.status_code == 504
    assert response.json()["detail"].startswith("The notifications service did not answer")


async def test_an_http_upstream_reuses_its_connections(
    standin: Standin, serve: Serve
) -> None:
    registry = standin("registry")
    async with serve(registry) as url:
        upstream = HttpUpstream(url)
        await upstream.start()
        try:
            answers = [
                await upstream.request("GET", b"/v1/taxonomy", b"", [], b"") for _ in range(3)
            ]
        finally:
            await upstream.close()

    assert [answer.status for answer in answers] == [200, 200, 200]
    assert len({call.client_port for call in registry.state.calls}) == 1


@contextlib.asynccontextmanager
async def raw_server(
    answer: Callable[[int, bytes], bytes | None], *, hang_up_after_answer: bool = False
) -> AsyncIterator[str]:
    """A bare TCP server: `answer(number, request_head)` gives the bytes to write for the
    connection's n-th request, or None to hang up without answering."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = 0
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                number += 1
                reply = answer(number, head)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if hang_up_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


def ok(body: bytes = b"ok") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


async def call(url: str, method: str = "GET") -> list[UpstreamResponse]:
    upstream = HttpUpstream(url, timeout=1.0)
    try:
        return [await upstream.request(method, b"/v1/x", b"", [], b"") for _ in range(2)]
    finally:
        await upstream.close()


async def test_an_idempotent_request_on_a_connection_closed_under_it_is_sent_again() -> None:
    async with raw_server(lambda number, head: ok() if number == 1 else None) as url:
        answers = await call(url, "GET")

    assert [(answer.status, answer.body) for answer in answers] == [(200, b"ok"), (200, b"ok")]


async def test_a_post_on_a_connection_closed_under_it_is_not_sent_again() -> None:
    async with raw_server(lambda number, head: ok() if number == 1 else None) as url:
        with pytest.raises(UpstreamError):
            await call(url, "POST")


async def test_an_answer_that_closes_its_connection_is_not_reused() -> None:
    replies = iter([
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nfirst", ok(b"second")
    ])
    async with raw_server(lambda number, head: next(replies)) as url:
        answers = await call(url)

    assert [answer.body for answer in answers] == [b"first", b"second"]


async def test_an_answer_delimited_by_closing_the_connection_is_read_whole() -> None:
    async with raw_server(
        lambda number, head: b"HTTP/1.1 200 OK\r\n\r\nuntil the end", hang_up_after_answer=True
    ) as url:
        upstream = HttpUpstream(url)
        answer = await upstream.request("GET", b"/v1/x", b"", [], b"")
        await upstream.close()

    assert answer.body == b"until the end"


async def test_a_malformed_answer_is_an_upstream_error() -> None:
    async with raw_server(lambda number, head: b"SMTP ready\r\n\r\n") as url:
        upstream = HttpUpstream(url)
        with pytest.raises(UpstreamError):
            await upstream.request("GET", b"/v1/x", b"", [], b"")
        await upstream.close()


async def test_the_request_is_written_as_http_1_1_with_the_upstreams_host() -> None:
    heads: list[bytes] = []

    def record(number: int, head: bytes) -> bytes:
        heads.append(head)
        return ok()

    async with raw_server(record) as url:
        upstream = HttpUpstream(url + "/base")
        await upstream.request(
            "POST", b"/v1/cases/a%20b", b"q=1", [(b"authorization", b"Bearer t")], b""
        )
        await upstream.close()

    lines = heads[0].decode().split("\r\n")
    assert lines[0] == "POST /base/v1/cases/a%20b?q=1 HTTP/1.1"
    assert f"host: {url.removeprefix('http://')}" in lines
    assert "authorization: Bearer t" in lines
    assert "content-length: 0" in lines
