"""The circuit breaker on a killed and restarted upstream process, retries of idempotent
requests, the cap on concurrent calls, and what /readyz and /metrics say about upstreams."""

import asyncio

from gateway.tests.conftest import Serve, Standin, StartGateway, StartProcess
from waymark_kernel.auth import NETWORK_ADMIN, VIEWER


async def test_the_circuit_opens_on_a_killed_upstream_and_closes_after_it_returns(
    start_gateway: StartGateway, process: StartProcess, unused_port: int
) -> None:
    registry_url = f"http://127.0.0.1:{unused_port}"
    async with start_gateway(
        registry_url=registry_url, circuit_failure_threshold=2, circuit_open_seconds=0.3,
    ) as gateway:
        headers, admin = gateway.headers(None, VIEWER), gateway.headers(None, NETWORK_ADMIN)

        async def organisations() -> int:
            return (await gateway.client.get("/v1/organizations", headers=headers)).status_code

        with process("standin_process:app", unused_port):
            before = await organisations()
        failing = [await organisations(), await organisations()]
        refused = await gateway.client.get("/v1/organizations", headers=headers)
        readiness_open = (await gateway.client.get("/readyz")).json()
        metrics_open = (await gateway.client.get("/metrics", headers=admin)).text

        with process("standin_process:app", unused_port):
            await asyncio.sleep(0.35)  # the open period passes; the next call probes
            after = await organisations()
            readiness_closed = (await gateway.client.get("/readyz")).json()

    assert before == 200
    assert failing == [502, 502]
    assert refused.status_code == 503
    assert refused.json()["type"] == "https://waymark.network/problems/upstream-circuit-open"
    assert int(refused.headers["retry-after"]) >= 1
    assert readiness_open["upstreams"]["registry"]["circuit"] == "open"
    assert 'waymark_gateway_upstream_circuit_state{upstream="registry"} 2.0' in metrics_open
    assert 'waymark_gateway_upstream_errors_total{kind="unavailable",upstream="registry"}' in (
        metrics_open
    )
    assert after == 200
    assert readiness_closed["upstreams"]["registry"]["circuit"] == "closed"


class FlakyUpstream:
    """A raw HTTP server that drops every other connection before answering."""

    def __init__(self) -> None:
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        if self.connections % 2 == 1:
            writer.transport.abort()
            return
        body = b'{"ok": true}'
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()


async def test_idempotent_requests_are_retried_once_on_a_connection_error(
    start_gateway: StartGateway
) -> None:
    flaky = FlakyUpstream()
    server = await asyncio.start_server(flaky.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with start_gateway(registry_url=f"http://127.0.0.1:{port}") as gateway:
            headers = gateway.headers(None, VIEWER)
            read = await gateway.client.get("/v1/organizations", headers=headers)
            keyed = await gateway.client.post(
                "/v1/services", json={}, headers={**headers, "Idempotency-Key": "once"}
            )
            connections_before = flaky.connections
            unkeyed = await gateway.client.post("/v1/services", json={}, headers=headers)
            connections_unkeyed = flaky.connections - connections_before
    finally:
        server.close()
        await server.wait_closed()

    assert read.status_code == 200
    assert keyed.status_code == 200
    assert connections_before == 4  # each of the two was sent twice
    assert unkeyed.status_code == 502
    assert connections_unkeyed == 1  # a POST without a key is never sent twice


async def test_calls_beyond_the_concurrency_cap_are_refused_at_once(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    referrals = standin("referrals")
    async with (
        serve(referrals) as referrals_url,
        start_gateway(referrals_url=referrals_url, upstream_max_concurrent=1) as gateway,
    ):
        headers = gateway.headers(gateway.known_organization, VIEWER)
        slow = asyncio.create_task(gateway.client.get("/v1/cases/slow", headers=headers))
        while not referrals.state.calls:
            await asyncio.sleep(0.01)
        busy = await gateway.client.get("/v1/cases", headers=headers)
        slow_answer = await slow

    assert busy.status_code == 503
    assert busy.json()["type"] == "https://waymark.network/problems/upstream-overloaded"
    assert busy.headers["retry-after"] == "1"
    assert slow_answer.status_code == 504  # the one admitted call was not disturbed
    assert len(referrals.state.calls) == 1
