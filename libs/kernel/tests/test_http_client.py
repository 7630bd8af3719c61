"""The kernel's HTTP/1.1 client against loopback servers that answer byte by byte as each test
needs: pooling, what is sent again on a closed kept-alive connection, limits, timeouts, bodies."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import EllipsisType

import pytest

from waymark_kernel.http_client import (
    AddressResolver,
    ClosedBeforeAnswer,
    HttpClient,
    HttpFailure,
    HttpResponse,
    Origin,
)

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass
class HangUp:
    """Write these bytes, then close the connection."""
    after: bytes


# What the server does for the n-th request of a connection, given its head: write bytes,
# hang up (None: without answering), or never answer (...).
Reply = bytes | HangUp | None | EllipsisType
Replier = Callable[[int, bytes], Reply]


def ok(body: bytes = b"ok") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


@dataclass
class Server:
    reply: Replier
    origin: Origin | None = None
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = 0
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((
                    int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ), 0)
                self.requests.append(head + await reader.readexactly(length))
                number += 1
                reply = self.reply(number, head)
                if reply is None:
                    break
                if reply is ...:
                    await asyncio.Event().wait()
                elif isinstance(reply, HangUp):
                    writer.write(reply.after)
                    await writer.drain()
                    break
                elif isinstance(reply, bytes):
                    writer.write(reply)
                    await writer.drain()
        writer.close()


Serve = Callable[[Replier], Awaitable[Server]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(reply: Replier) -> Server:
            server = Server(reply)
            listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
            stack.push_async_callback(listening.wait_closed)
            stack.callback(listening.close)
            port = listening.sockets[0].getsockname()[1]
            server.origin = Origin("http", "127.0.0.1", port, b"127.0.0.1:%d" % port)
            return server

        yield start


def client(
    *, timeout: float = 2.0, resent_methods: frozenset[str] = IDEMPOTENT,
    max_header_bytes: int = 8192, body_bytes_kept: int | None = None,
    connections_per_origin: int | None = None, addresses: AddressResolver | None = None,
) -> HttpClient:
    return HttpClient(
        timeout=timeout, resent_methods=resent_methods, max_header_bytes=max_header_bytes,
        body_bytes_kept=body_bytes_kept, connections_per_origin=connections_per_origin,
        idle_seconds=30.0, addresses=addresses,
    )


async def one(http: HttpClient, server: Server, method: str = "GET") -> HttpResponse:
    assert server.origin is not None
    return await http.request(server.origin, method, b"/x", [], b"")


async def twice(http: HttpClient, server: Server, method: str) -> list[HttpResponse]:
    assert server.origin is not None
    try:
        return [
            await http.request(server.origin, method, b"/x", [], b"body") for _ in range(2)
        ]
    finally:
        http.close()


async def test_connections_are_kept_alive_and_reused(serve: Serve) -> None:
    server = await serve(lambda number, head: ok(b"answer %d" % number))
    answers = await twice(client(), server, "GET")
    assert [answer.body for answer in answers] == [b"answer 1", b"answer 2"]
    assert (server.connections, len(server.requests)) == (1, 2)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_an_idempotent_request_on_a_kept_connection_closed_under_it_goes_again(
    serve: Serve, method: str
) -> None:
    server = await serve(lambda number, head: ok() if number == 1 else None)
    answers = await twice(client(), server, method)
    assert [answer.status for answer in answers] == [200, 200]
    assert (server.connections, len(server.requests)) == (2, 3)


async def test_a_post_on_a_kept_connection_closed_under_it_is_not_sent_again(serve: Serve) -> None:
    server = await serve(lambda number, head: ok() if number == 1 else None)
    with pytest.raises(ClosedBeforeAnswer):
        await twice(client(), server, "POST")
    assert (server.connections, len(server.requests)) == (1, 2)


async def test_a_policy_may_send_posts_again_too(serve: Serve) -> None:
    server = await serve(lambda number, head: ok() if number == 1 else None)
    answers = await twice(client(resent_methods=frozenset({"POST"})), server, "POST")
    assert [answer.status for answer in answers] == [200, 200]
    assert (server.connections, len(server.requests)) == (2, 3)


async def test_a_new_connection_closed_without_an_answer_is_not_tried_again(serve: Serve) -> None:
    server = await serve(lambda number, head: None)
    with pytest.raises(ClosedBeforeAnswer, match="the connection was closed"):
        await twice(client(), server, "GET")
    assert (server.connections, len(server.requests)) == (1, 1)


async def test_an_answer_cut_short_is_a_failure_unless_only_its_start_is_wanted(
    serve: Serve,
) -> None:
    server = await serve(
        lambda number, head: HangUp(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
    )
    http = client()
    with pytest.raises(HttpFailure, match="closed mid-answer"):
        await one(http, server)
    http.close()
    answer = await one(client(body_bytes_kept=800), server, "POST")
    assert (answer.status, answer.body) == (200, b"abc")


async def test_answers_over_the_header_limit_are_failures(serve: Serve) -> None:
    many = b"".join(b"x-filler-%d: %s\r\n" % (n, b"v" * 100) for n in range(100))
    one_long = b"x-long: " + b"v" * 20000  # never ends: the limit applies before the line does
    server = await serve(lambda number, head: (
        b"HTTP/1.1 200 OK\r\n" + many + b"content-length: 0\r\n\r\n" if number == 1
        else b"HTTP/1.1 200 OK\r\n" + one_long
    ))
    assert server.origin is not None
    http = client(max_header_bytes=4096)
    with pytest.raises(HttpFailure, match="headers are larger than 4096 bytes"):
        await http.request(server.origin, "GET", b"/x", [], b"")
    with pytest.raises(HttpFailure, match="headers are larger than 4096 bytes"):
        await http.request(server.origin, "GET", b"/x", [], b"")
    http.close()
    assert server.connections == 2  # a connection with a refused answer is not used again


async def test_headers_within_the_limit_are_all_given_with_lower_case_names(serve: Serve) -> None:
    server = await serve(lambda number, head: (
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 120\r\nX-One: 1\r\n"
        b"content-length: 0\r\n\r\n"
    ))
    [answer, _] = await twice(client(), server, "GET")
    assert (answer.status, answer.reason) == (429, "Too Many Requests")
    assert answer.headers[:2] == [(b"retry-after", b"120"), (b"x-one", b"1")]


async def test_only_the_start_of_a_body_is_kept_when_asked(serve: Serve) -> None:
    chunk = b"x" * 1000
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + b"".join(
        b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)
    ) + b"0\r\n\r\n"
    server = await serve(lambda number, head: chunked)
    answers = await twice(client(body_bytes_kept=800), server, "POST")
    assert [answer.body for answer in answers] == [b"x" * 800, b"x" * 800]
    assert server.connections == 2  # the rest was not read: the connection is not reused


async def test_chunked_length_and_close_delimited_bodies_are_read_whole(serve: Serve) -> None:
    replies: dict[int, Reply] = {
        1: b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        2: ok(b"by length"),
        3: HangUp(b"HTTP/1.1 200 OK\r\n\r\nuntil the end"),  # its end is the connection's
    }
    server = await serve(lambda number, head: replies[number])
    http = client()
    answers = [await one(http, server) for _ in range(3)]
    http.close()
    assert [answer.body for answer in answers] == [b"hello world", b"by length", b"until the end"]
    assert server.connections == 1


async def test_an_interim_answer_is_passed_over_and_a_head_answer_has_no_body(serve: Serve) -> None:
    server = await serve(lambda number, head: (
        b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"final") if head.startswith(b"GET")
        else b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
    ))
    assert server.origin is not None
    http = client()
    got = await http.request(server.origin, "GET", b"/x", [], b"")
    head = await http.request(server.origin, "HEAD", b"/x", [], b"")
    http.close()
    assert (got.status, got.body) == (200, b"final")
    assert (head.status, head.body, head.headers) == (200, b"", [(b"content-length", b"5")])


async def test_a_malformed_answer_is_a_failure(serve: Serve) -> None:
    server = await serve(lambda number, head: b"SMTP ready\r\n\r\n")
    with pytest.raises(HttpFailure, match="malformed answer"):
        await twice(client(), server, "GET")


async def test_no_answer_in_time_is_a_timeout_and_a_request_may_give_its_own(serve: Serve) -> None:
    server = await serve(lambda number, head: ...)
    assert server.origin is not None
    http = client(timeout=0.2)
    with pytest.raises(TimeoutError):
        await http.request(server.origin, "GET", b"/x", [], b"")
    with pytest.raises(TimeoutError):
        await http.request(server.origin, "GET", b"/x", [], b"", timeout=0.1)
    http.close()
    assert server.connections == 2  # a connection left mid-exchange is not reused


async def test_the_timeout_covers_waiting_for_a_connection_and_resolving(serve: Serve) -> None:
    server = await serve(lambda number, head: ...)
    assert server.origin is not None
    capped = client(connections_per_origin=1)
    first = asyncio.create_task(capped.request(server.origin, "GET", b"/x", [], b"", timeout=0.5))
    await asyncio.sleep(0.05)
    with pytest.raises(TimeoutError):  # while the one connection is still in use
        await capped.request(server.origin, "GET", b"/x", [], b"", timeout=0.1)
    assert not first.done()
    with pytest.raises(TimeoutError):
        await first
    capped.close()
    assert server.connections == 1

    async def slow(host: str, port: int) -> Sequence[str]:
        await asyncio.sleep(5)
        return ["127.0.0.1"]

    with pytest.raises(TimeoutError):
        await client(timeout=0.1, addresses=slow).request(server.origin, "GET", b"/x", [], b"")
    assert server.connections == 1


async def test_the_request_is_written_in_one_piece_as_given(serve: Serve) -> None:
    server = await serve(lambda number, head: ok())
    assert server.origin is not None
    http = client()
    await http.request(
        server.origin, "POST", b"/base/a%20b?q=1",
        [(b"authorization", b"Bearer t"), (b"traceparent", b"00-ab-cd-01")], b"",
    )
    await http.request(server.origin, "GET", b"/", [], b"")
    http.close()
    post, get = server.requests
    assert post.split(b"\r\n") == [
        b"POST /base/a%20b?q=1 HTTP/1.1", b"host: %s" % server.origin.authority,
        b"authorization: Bearer t", b"traceparent: 00-ab-cd-01", b"content-length: 0", b"", b"",
    ]
    assert b"content-length" not in get


async def test_connections_to_one_origin_are_capped(serve: Serve) -> None:
    server = await serve(lambda number, head: ok())
    assert server.origin is not None
    for cap, connections in ((1, 1), (None, 3)):
        server.connections = 0
        http = client(connections_per_origin=cap)
        answers = await asyncio.gather(*(
            http.request(server.origin, "GET", b"/x", [], b"") for _ in range(3)
        ))
        http.close()
        assert [answer.status for answer in answers] == [200, 200, 200]
        assert server.connections == connections


async def test_new_connections_go_only_where_the_resolver_says(serve: Serve) -> None:
    server = await serve(lambda number, head: ok())
    assert server.origin is not None
    port = server.origin.port
    asked: list[tuple[str, int]] = []

    async def checked(host: str, asked_port: int) -> Sequence[str]:
        asked.append((host, asked_port))
        return ["127.0.0.2", "127.0.0.1"]  # nothing listens on the first

    http = client(addresses=checked)
    origin = Origin("http", "hooks.example", port, b"hooks.example:%d" % port)
    answers = [await http.request(origin, "POST", b"/", [], b"{}") for _ in range(2)]
    http.close()
    assert [answer.status for answer in answers] == [200, 200]
    assert asked == [("hooks.example", port)]  # once: the second request reused the connection
    assert b"host: hooks.example:%d" % port in server.requests[0]


async def test_a_resolver_that_refuses_leaves_no_connection_made(serve: Serve) -> None:
    server = await serve(lambda number, head: ok())
    assert server.origin is not None

    class Refused(Exception):
        pass

    async def refuse(host: str, port: int) -> Sequence[str]:
        raise Refused(host)

    http = client(addresses=refuse)
    with pytest.raises(Refused):
        await http.request(server.origin, "POST", b"/", [], b"{}")
    http.close()
    assert server.connections == 0
