"""The same read endpoint direct and through the gateway, in one run."""

import asyncio

from benchmarks.support import Bench, wrk
from tests.e2e.flow import created


async def measure(bench: Bench) -> str:
    organisation = await created(await bench.client.post("/v1/organizations", headers=bench.admin, json={
        "name": "Bench organisation", "type": "cso", "country": "NP"}))
    path = f"/v1/organizations/{organisation['id']}"
    direct_url, gateway_url = bench.direct_url("registry") + path, bench.base_url + path
    figures = {}
    for label, url in (("direct", direct_url), ("gateway", gateway_url)):
        await asyncio.to_thread(wrk, url, bench.admin, 10, "3s")  # warm pools and token caches
        figures[label] = (
            await asyncio.to_thread(wrk, url, bench.admin, 1),
            await asyncio.to_thread(wrk, url, bench.admin, 50),
        )
    (d1, d50), (g1, g50) = figures["direct"], figures["gateway"]
    added = g1.median_ms - d1.median_ms
    share = g50.requests_per_second / d50.requests_per_second * 100
    return f"""## Gateway overhead

Endpoint: `GET /v1/organizations/{{id}}` (a token check and a database read), direct to the
registry and through the gateway. wrk `-t1 -c1 -d10s` and `-t2 -c50 -d10s`, after a warm-up.

| | direct (registry) | through the gateway | target |
|---|---|---|---|
| median latency, 1 connection | {d1.median_ms:.2f} ms | {g1.median_ms:.2f} ms | added ≤ 0.5 ms: **{added:+.2f} ms** |
| requests/s, 1 connection | {d1.requests_per_second:.0f} | {g1.requests_per_second:.0f} | |
| requests/s, 50 connections | {d50.requests_per_second:.0f} | {g50.requests_per_second:.0f} | ≥ 60 % of direct: **{share:.0f} %** |
| median / p99 latency, 50 connections | {d50.median_ms:.1f} / {d50.p99_ms:.1f} ms | {g50.median_ms:.1f} / {g50.p99_ms:.1f} ms | |
"""
