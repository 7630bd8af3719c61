"""`python -m benchmarks.http_client_cpu`: the CPU time of the calling process per request, for
the gateway's HttpUpstream and the webhook sender, against a bare keep-alive server in another
process; 1 and 50 requests in flight; the least of 7 measures each, as other work on a shared
machine only ever adds. Run it from two checkouts alternately to compare their clients: unlike
`make bench`, it does not need the machine to itself."""

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

REPEATS = 7
REQUESTS = 3000
BODY = b'{"id":"5a0c1f3e","name":"A service","country":"FR","status":"active"}' * 10
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(BODY), BODY,
)
HEADERS = [
    (b"accept", b"application/json"), (b"authorization", b"Bearer " + b"x" * 600),
    (b"x-request-id", b"0123456789abcdef"), (b"x-forwarded-for", b"127.0.0.1"),
]


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    await reader.readexactly(int(line.split(b":")[1]))
            writer.write(ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


async def _serve(port: int) -> None:
    server = await asyncio.start_server(_answer, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def _least_cpu_per_request(call: Callable[[], Awaitable[None]], in_flight: int) -> float:
    async def worker(count: int) -> None:
        for _ in range(count):
            await call()

    await worker(200)
    least = float("inf")
    for _ in range(REPEATS):
        started = time.process_time()
        await asyncio.gather(*(worker(REQUESTS // in_flight) for _ in range(in_flight)))
        least = min(least, time.process_time() - started)
    return least / REQUESTS * 1e6


async def _gateway(port: int, in_flight: int) -> float:
    from waymark_gateway.proxy.upstreams import HttpUpstream

    upstream = HttpUpstream(f"http://127.0.0.1:{port}")

    async def call() -> None:
        answer = await upstream.request("GET", b"/v1/organizations/5a0c1f3e", b"", HEADERS, b"")
        assert answer.status == 200

    try:
        return await _least_cpu_per_request(call, in_flight)
    finally:
        await upstream.close()


async def _webhooks(port: int, in_flight: int) -> float:
    from waymark_notifications.webhooks.sender import WebhookSender
    from waymark_notifications.webhooks.url_guard import UrlGuard

    guard = UrlGuard(allow_insecure=True, high_ports=(1024, 65535))
    async with WebhookSender(guard, timeout_seconds=5) as sender:

        async def call() -> None:
            result = await sender.send(
                f"http://127.0.0.1:{port}/hooks/one", "msg_1", '{"type":"service.updated"}',
                ["whsec_AAAA"],
            )
            assert result.succeeded, result

        return await _least_cpu_per_request(call, in_flight)


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        asyncio.run(_serve(int(sys.argv[2])))
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.http_client_cpu", "serve", str(port)]
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        for name, measure in (("gateway upstream", _gateway), ("webhook sender", _webhooks)):
            for in_flight in (1, 50):
                cpu = asyncio.run(measure(port, in_flight))
                print(f"{name}, {in_flight} in flight: {cpu:.1f} µs CPU per request", flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
