"""The same read endpoint direct and through the gateway, in one run; the gateway checks the
token and counts the request against its rate limit (raised high enough not to refuse)."""

import asyncio
import os
import statistics
import time
import uuid

from benchmarks.support import Bench, wrk
from tests.e2e.flow import created

ROUNDS = 3


async def measure(bench: Bench) -> str:
    organisation = await created(await bench.client.post("/v1/organizations", headers=bench.admin, json={
        "name": "Bench organisation", "type": "cso", "country": "NP"}))
    path = f"/v1/organizations/{organisation['id']}"
    limited = await bench.client.get(path, headers=bench.admin)
    if "ratelimit-policy" not in limited.headers:
        raise RuntimeError("the gateway under test does not rate-limit")
    direct_url, gateway_url = bench.direct_url("registry") + path, bench.base_url + path
    for url in (direct_url, gateway_url):
        await asyncio.to_thread(wrk, url, bench.admin, 10, "3s")  # warm pools and token caches
    # Direct and gateway runs alternate, round after round, so that load from anything else on
    # the machine falls on both alike; each figure is the median of the rounds.
    load_before = os.getloadavg()[0]
    rounds = []
    for _ in range(ROUNDS):
        rounds.append({
            (label, connections): await asyncio.to_thread(
                wrk, url, bench.admin, connections, "5s"
            )
            for connections in (1, 50)
            for label, url in (("direct", direct_url), ("gateway", gateway_url))
        })

    def figure(label: str, connections: int, field: str) -> float:
        values: list[float] = [getattr(measured[label, connections], field) for measured in rounds]
        return statistics.median(values)

    added_each = [
        measured["gateway", 1].median_ms - measured["direct", 1].median_ms for measured in rounds
    ]
    share_each = [
        measured["gateway", 50].requests_per_second / measured["direct", 50].requests_per_second
        * 100 for measured in rounds
    ]
    added, share = statistics.median(added_each), statistics.median(share_each)
    load = f"{load_before:.1f} → {os.getloadavg()[0]:.1f}"
    redis_ms = await redis_check_ms()
    return f"""## Gateway overhead

Endpoint: `GET /v1/organizations/{{id}}` (a token check and a database read), direct to the
registry and through the gateway, which verifies the token and counts the request against the
client's rate limit (`{limited.headers["ratelimit-policy"]}`, buckets in the gateway's process).
wrk `-t1 -c1 -d5s` and `-t2 -c50 -d5s`, direct and through the gateway alternately, {ROUNDS}
rounds after a warm-up; each figure is the median of the rounds (the added latency and the
share are computed per round; their range over the rounds is given too). The one-minute load
average of the machine went {load} during the rounds: other work on the same two cores makes
single figures move a lot, which the alternation and the ranges are there to show.

| | direct (registry) | through the gateway | target |
|---|---|---|---|
| median latency, 1 connection | {figure("direct", 1, "median_ms"):.2f} ms | {figure("gateway", 1, "median_ms"):.2f} ms | added ≤ 0.5 ms: **{added:+.2f} ms** ({min(added_each):+.2f} to {max(added_each):+.2f}) |
| requests/s, 1 connection | {figure("direct", 1, "requests_per_second"):.0f} | {figure("gateway", 1, "requests_per_second"):.0f} | |
| requests/s, 50 connections | {figure("direct", 50, "requests_per_second"):.0f} | {figure("gateway", 50, "requests_per_second"):.0f} | ≥ 60 % of direct: **{share:.0f} %** ({min(share_each):.0f} to {max(share_each):.0f} %) |
| median / p99 latency, 50 connections | {figure("direct", 50, "median_ms"):.1f} / {figure("direct", 50, "p99_ms"):.1f} ms | {figure("gateway", 50, "median_ms"):.1f} / {figure("gateway", 50, "p99_ms"):.1f} ms | |

With the buckets in Redis (`WAYMARK_REDIS_URL`, shared by replicas) a check costs one Redis
round trip more: median **{redis_ms:.3f} ms** per check here (2,000 checks, one Lua script each,
Redis on the same machine), to be added to the figures above.
"""


async def redis_check_ms() -> float:
    """The median time of one rate-limit check against a local Redis."""
    from waymark_gateway.proxy.ratelimit import Policy, RateLimits, RedisBuckets
    from waymark_kernel.auth import Identity

    prefix = f"bench:{uuid.uuid4().hex}:"
    store = RedisBuckets("redis://127.0.0.1:6379/0", prefix=prefix, timeout=1.0)
    limits = RateLimits(
        store, default=Policy("default", 1_000_000, 60.0), by_role={}, sign_ins={},
    )
    identity = Identity("bench-client", None, frozenset({"caseworker"}))
    timings = []
    try:
        for _ in range(2000):
            started = time.perf_counter()
            await limits.check_client(identity)
            timings.append((time.perf_counter() - started) * 1000)
        await store.redis.delete(prefix + "client:bench-client")
    finally:
        await limits.close()
    return statistics.median(timings)
