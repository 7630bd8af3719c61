"""Fan-out: every `service.updated` to 50 subscriptions on local receivers."""

import asyncio
import json
import os
import statistics
import sys
import time

import httptools

from benchmarks.support import Bench, percentile
from tests.e2e.flow import created, organisation_with_client, service_body

SUBSCRIPTIONS = 50
SATURATING_EVENTS = 1000
PACED_EVENTS = 100
PACED_PER_SECOND = 5
ROUNDS = 8
NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"


class _ReceiverConnection(asyncio.Protocol):
    """One keep-alive connection to the receivers: each request's arrival is recorded when its
    last byte is in, then answered with 204; requests to /slow are never answered."""

    def __init__(self, receivers: "Receivers") -> None:
        self.receivers = receivers
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        arrived = time.time()
        url, body, self.url, self.body = self.url.decode(), b"".join(self.body), b"", []
        if url == "/slow":
            return
        hours = json.loads(body)["data"]["response_time_hours"]
        self.receivers.arrivals.setdefault((url.removeprefix("/hooks/"), hours), arrived)
        assert self.transport is not None  # a request comes only on a made connection
        self.transport.write(NO_CONTENT)


class Receivers:
    """One local server; each subscription has its path; arrivals keyed by (path, event)."""

    def __init__(self) -> None:
        self.arrivals: dict[tuple[str, int], float] = {}
        self.server: asyncio.Server | None = None
        self.base = ""

    async def start(self) -> None:
        self.server = await asyncio.get_running_loop().create_server(
            lambda: _ReceiverConnection(self), "127.0.0.1", 0
        )
        self.base = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    async def until_arrived(self, batch: set[int], count: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and sum(
            1 for _, hours in list(self.arrivals) if hours in batch
        ) < count:
            await asyncio.sleep(0.5)


def p99_change(without: list[float], with_slow: list[float]) -> float:
    """How much the timing-out endpoint changed the others' p99, in per cent."""
    return (percentile(with_slow, 0.99) / percentile(without, 0.99) - 1) * 100


async def measure(bench: Bench) -> str:
    client = bench.client
    receivers = Receivers()
    await receivers.start()
    organisation, headers = await organisation_with_client(client, bench.admin, "Fan-out", "LB")
    service = await created(await client.post(
        "/v1/services", headers=headers, json=service_body(organisation["id"], "LB", "Beirut")))
    for number in range(SUBSCRIPTIONS):
        await created(await client.post("/v1/subscriptions", headers=headers, json={
            "url": f"{receivers.base}/hooks/{number}", "event_types": ["service.updated"]}))
    counter = iter(range(1, 8761))
    committed: dict[int, float] = {}

    async def update(at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        hours = next(counter)
        response = await client.patch(
            f"/v1/services/{service['id']}", headers=headers, json={"response_time_hours": hours})
        committed[hours] = time.time()
        assert response.status_code == 200, response.text

    async def run(events: int, per_second: float | None) -> tuple[set[int], float]:
        receivers.arrivals.clear()
        start = time.monotonic() + 0.2
        if per_second is None:  # as fast as the registry takes them, one after the other
            first = time.time()
            for _ in range(events):
                await update(0)
        else:
            first = time.time() + 0.2
            await asyncio.gather(*(update(start + n / per_second) for n in range(events)))
        batch = set(list(committed)[-events:])
        await receivers.until_arrived(batch, events * SUBSCRIPTIONS, 300)
        return batch, first

    def latencies(batch: set[int]) -> list[float]:
        return sorted(
            (arrived - committed[hours]) * 1000
            for (_, hours), arrived in receivers.arrivals.items() if hours in batch
        )

    load_before = os.getloadavg()[0]
    batch, first = await run(SATURATING_EVENTS, None)
    arrived = [at for (_, hours), at in receivers.arrivals.items() if hours in batch]
    throughput = len(arrived) / (max(arrived) - first)
    saturated = latencies(batch)
    # Told at once: on a busy machine a paced round can still fail (a 504) and lose the run.
    print(f"fan-out sustained: {throughput:.0f} deliveries/s, {len(arrived)} of "
          f"{SATURATING_EVENTS * SUBSCRIPTIONS} arrived, median {statistics.median(saturated):.1f} ms, "
          f"p99 {percentile(saturated, 0.99):.1f} ms", file=sys.stderr, flush=True)

    # Rounds alternate without and with the timing-out endpoint (disabled, then enabled), so
    # that a pause of the machine falls on both alike.
    slow = await created(await client.post("/v1/subscriptions", headers=headers, json={
        "url": f"{receivers.base}/slow", "event_types": ["service.updated"]}))
    paced_rounds: list[list[float]] = []
    with_slow_rounds: list[list[float]] = []
    for _ in range(ROUNDS):
        for enabled, rounds in ((False, paced_rounds), (True, with_slow_rounds)):
            response = await client.patch(
                f"/v1/subscriptions/{slow['id']}", headers=headers, json={"enabled": enabled})
            assert response.status_code == 200, response.text
            rounds.append(latencies((await run(PACED_EVENTS, PACED_PER_SECOND))[0]))
    load_after = os.getloadavg()[0]
    receivers.stop()
    paced = sorted(value for values in paced_rounds for value in values)
    with_slow = sorted(value for values in with_slow_rounds for value in values)
    changes = [p99_change(*pair) for pair in zip(paced_rounds, with_slow_rounds, strict=False)]

    def row(name: str, values: list[float], expected: int) -> str:
        return (f"| {name} | {len(values)} of {expected} | {statistics.median(values):.1f} ms "
                f"| {percentile(values, 0.99):.1f} ms |")

    return f"""## Fan-out

One organisation's service is updated through the gateway (`PATCH /v1/services/{{id}}`, so the
registry commits and publishes `service.updated`); {SUBSCRIPTIONS} subscriptions to it point at
local receivers (one HTTP/1.1 server on asyncio and httptools in the benchmark's process, a
path each, answering 204 once a request's last byte is in; that moment is its arrival).
Latency runs from the PATCH response (sent after the commit) to each webhook's arrival.
{SATURATING_EVENTS} events back to back for the throughput, then {ROUNDS} rounds, each of {PACED_EVENTS} events at {PACED_PER_SECOND}/s
({PACED_PER_SECOND * SUBSCRIPTIONS} deliveries/s offered) without and then with a {SUBSCRIPTIONS + 1}st subscription
whose endpoint never answers within the delivery timeout (disabled, then enabled, by PATCH). One-minute load average of the machine: {load_before:.1f} before
the runs, {load_after:.1f} after ({os.cpu_count()} cores).

| | deliveries/s | target |
|---|---|---|
| sustained, {SATURATING_EVENTS} events × {SUBSCRIPTIONS} subscriptions | **{throughput:.0f}** | ≥ 1,000 |

| run | arrived | median | p99 |
|---|---|---|---|
{row("back to back (saturated)", saturated, SATURATING_EVENTS * SUBSCRIPTIONS)}
{row(f"{PACED_PER_SECOND} events/s, {ROUNDS} rounds", paced, ROUNDS * PACED_EVENTS * SUBSCRIPTIONS)}
{row(f"{PACED_PER_SECOND} events/s + one timing-out endpoint, {ROUNDS} rounds", with_slow, ROUNDS * PACED_EVENTS * SUBSCRIPTIONS)}

Targets when not saturated: median ≤ 20 ms, p99 ≤ 100 ms; the timing-out endpoint may change
the others' p99 by at most 10 %: measured **{p99_change(paced, with_slow):+.0f} %**
(the p99 of the {ROUNDS * PACED_EVENTS * SUBSCRIPTIONS} deliveries with it against that of the {ROUNDS * PACED_EVENTS * SUBSCRIPTIONS} without). Round by round, its
p99 against that of the round just before it: {", ".join(f"{change:+.0f} %" for change in changes)}
(median {statistics.median(changes):+.0f} %); the p99 of one round's {PACED_EVENTS * SUBSCRIPTIONS} deliveries is set by its
slowest {PACED_EVENTS * SUBSCRIPTIONS // 100}, about one event, so one pause of the machine moves it either way.
"""
