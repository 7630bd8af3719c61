"""`make bench`: gateway overhead and event latency on the distributed network of this machine.

Starts `waymark up` with throw-away databases and RabbitMQ names, loads it with wrk (Debian
package `wrk`) from a second process, and writes the figures to docs/benchmarks.md.
"""

import asyncio
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiohttp import web

from tests.e2e.flow import PERSON, created, organisation_with_client, service_body, token
from tests.e2e.support import ADMIN_SECRET, clean_up, start, stop

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
DURATION = "10s"
TRANSITIONS_PER_SECOND = 50
TRANSITIONS = 500


def wrk(url: str, headers: dict[str, str], connections: int) -> tuple[float, float]:
    """Requests per second and median latency in ms."""
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{DURATION}", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"wrk saw errors:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    median = re.search(r"50%\s+([\d.]+)(us|ms|s)", output)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[median.group(2)]
    return rate, float(median.group(1)) * scale


async def gateway_overhead(base_url: str, direct_url: str, headers: dict, organisation_id: str) -> dict:
    path = f"/v1/organizations/{organisation_id}"
    figures = {}
    for label, url in (("direct", direct_url + path), ("gateway", base_url + path)):
        wrk(url, headers, 10)  # warm-up: connection pools, token caches
        rate_1, median_1 = await asyncio.to_thread(wrk, url, headers, 1)
        rate_50, median_50 = await asyncio.to_thread(wrk, url, headers, 50)
        figures[label] = {"median_ms_1": median_1, "rps_1": rate_1, "rps_50": rate_50, "median_ms_50": median_50}
    return figures


async def event_latency(client: httpx.AsyncClient, base_url: str) -> dict:
    arrivals: dict[str, tuple[float, str]] = {}

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        arrivals[body["data"]["referral_id"]] = (time.time(), body["timestamp"])
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hooks"

    admin = await token(client, "network-admin", ADMIN_SECRET)
    sender, sender_headers = await organisation_with_client(client, admin, "Bench sender", "NP")
    receiver, receiver_headers = await organisation_with_client(client, admin, "Bench receiver", "LB")
    service = await created(await client.post(
        "/v1/services", headers=receiver_headers, json=service_body(receiver["id"], "LB", "Beirut")))
    await created(await client.post("/v1/subscriptions", headers=receiver_headers, json={
        "url": receiver_url, "event_types": ["referral.accepted"], "description": "bench"}))
    referrals = []
    for _ in range(TRANSITIONS):
        case = await created(await client.post("/v1/cases", headers=sender_headers, json={"person": PERSON}))
        await client.put(f"/v1/cases/{case['id']}/consent", headers=sender_headers, json={
            "legal_basis": "consent", "scope": {"countries": ["LB"]},
            "given_at": "2026-11-20T10:00:00Z", "method": "verbal"})
        for _attempt in range(100):
            response = await client.post("/v1/referrals", headers=sender_headers, json={
                "case_id": case["id"], "receiver_org_id": receiver["id"], "service_id": service["id"],
                "migration_stage": "destination", "categories": service["categories"],
                "urgency": "normal", "reason": "bench", "shared_fields": []})
            if response.status_code == 201:
                break
            await asyncio.sleep(0.1)
        referrals.append(await created(response))

    committed: dict[str, float] = {}

    async def accept(referral: dict, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        response = await client.post(
            f"/v1/referrals/{referral['id']}/transitions",
            headers={**receiver_headers, "If-Match": f'"{referral["version"]}"'}, json={"to": "accepted"})
        committed[referral["id"]] = time.time()
        assert response.status_code == 200, response.text

    started = time.monotonic() + 0.5
    await asyncio.gather(*(
        accept(referral, started + index / TRANSITIONS_PER_SECOND) for index, referral in enumerate(referrals)
    ))
    deadline = time.monotonic() + 30
    while len(arrivals) < len(referrals) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await runner.cleanup()
    after_response = sorted(
        (arrivals[rid][0] - committed[rid]) * 1000 for rid in committed if rid in arrivals)
    after_event = sorted(
        (arrivals[rid][0] - datetime.fromisoformat(arrivals[rid][1]).timestamp()) * 1000
        for rid in committed if rid in arrivals)
    return {
        "sent": len(referrals), "arrived": len(arrivals),
        "median_after_response_ms": statistics.median(after_response),
        "p99_after_response_ms": after_response[int(len(after_response) * 0.99) - 1],
        "median_after_event_ms": statistics.median(after_event),
        "p99_after_event_ms": after_event[int(len(after_event) * 0.99) - 1],
    }


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return (f"{os.cpu_count()} cores ({cpu}), {memory_kb / 1024 / 1024:.0f} GiB, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
            f"PostgreSQL and RabbitMQ on the same machine")


def report(overhead: dict, latency: dict) -> str:
    d, g = overhead["direct"], overhead["gateway"]
    added = g["median_ms_1"] - d["median_ms_1"]
    share = g["rps_50"] / d["rps_50"] * 100
    return f"""# Benchmarks

Measured by `make bench` (`benchmarks/run.py`) on {datetime.now(UTC):%Y-%m-%d}, on {machine()}.
The network runs in distributed mode (`waymark up`: gateway and each service a process of its
own); wrk (`wrk -t2 -c50 -d{DURATION} --latency`, one connection: `-t1 -c1`) loads it from the
same machine, so the load generator, the gateway, the service, PostgreSQL and RabbitMQ share
the two cores. Endpoint: `GET /v1/organizations/{{id}}` (a token check and a database read).

## Gateway overhead

| | direct (registry) | through the gateway | target |
|---|---|---|---|
| median latency, 1 connection | {d['median_ms_1']:.2f} ms | {g['median_ms_1']:.2f} ms | added ≤ 0.5 ms: **{added:+.2f} ms** |
| requests/s, 1 connection | {d['rps_1']:.0f} | {g['rps_1']:.0f} | |
| requests/s, 50 connections | {d['rps_50']:.0f} | {g['rps_50']:.0f} | ≥ 60 % of direct: **{share:.0f} %** |
| median latency, 50 connections | {d['median_ms_50']:.2f} ms | {g['median_ms_50']:.2f} ms | |

## Event latency

{latency['sent']} `accepted` transitions at {TRANSITIONS_PER_SECOND} per second through the
gateway; a local receiver subscribed to `referral.accepted` records each webhook's arrival.
"After response" starts when the transition's response (sent after the commit) reaches the
client; "after event" starts at the event's own timestamp, taken inside the transaction before
the commit (an upper bound). Arrived: {latency['arrived']} of {latency['sent']}.

| | median | p99 | target |
|---|---|---|---|
| commit → webhook (after response) | {latency['median_after_response_ms']:.1f} ms | {latency['p99_after_response_ms']:.1f} ms | median ≤ 20 ms, p99 ≤ 100 ms |
| event time → webhook | {latency['median_after_event_ms']:.1f} ms | {latency['p99_after_event_ms']:.1f} ms | |
"""


async def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("make bench needs wrk: apt-get install wrk")
    unique = uuid.uuid4().hex[:10]
    prefix, exchange, queues = f"bench_{unique}", f"bench.{unique}.events", f"bench.{unique}"
    with tempfile.TemporaryDirectory() as folder:
        network = start("up", Path(folder), {
            "WAYMARK_DATABASE_PREFIX": prefix, "WAYMARK_EVENT_EXCHANGE": exchange,
            "WAYMARK_QUEUE_PREFIX": queues, "WAYMARK_SEED_DEMO": "false", "WAYMARK_LOG_LEVEL": "WARNING",
            "WAYMARK_RATE_LIMIT": "off",
        })
        try:
            port = int(network.base_url.rsplit(":", 1)[1])
            async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as client:
                admin = await token(client, "network-admin", ADMIN_SECRET)
                organisation = await created(await client.post("/v1/organizations", headers=admin, json={
                    "name": "Bench organisation", "type": "cso", "country": "NP"}))
                overhead = await gateway_overhead(
                    network.base_url, f"http://127.0.0.1:{port + 1}", admin, organisation["id"])
                latency = await event_latency(client, network.base_url)
        finally:
            stop(network)
            await clean_up(prefix, exchange, queues)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(report(overhead, latency))
    print(RESULTS.read_text())


if __name__ == "__main__":
    asyncio.run(main())
