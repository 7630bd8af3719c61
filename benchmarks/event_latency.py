"""From the commit of a referral transition to the webhook's arrival at a local receiver."""

import asyncio
import os
import statistics
import time
from datetime import datetime
from typing import Any

import httpx
from aiohttp import web

from benchmarks.support import Bench, percentile
from tests.e2e.flow import PERSON, created, organisation_with_client, service_body

TRANSITIONS_PER_SECOND = 50
TRANSITIONS = 500


async def measure(bench: Bench) -> str:
    client = bench.client
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
    receiver_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"

    _, sender_headers = await organisation_with_client(client, bench.admin, "Latency sender", "NP")
    receiver, receiver_headers = await organisation_with_client(client, bench.admin, "Latency receiver", "LB")
    service = await created(await client.post(
        "/v1/services", headers=receiver_headers, json=service_body(receiver["id"], "LB", "Beirut")))
    await created(await client.post("/v1/subscriptions", headers=receiver_headers, json={
        "url": receiver_url, "event_types": ["referral.accepted"], "description": "bench"}))
    referrals = [
        await _referral(client, sender_headers, receiver["id"], service) for _ in range(TRANSITIONS)
    ]
    committed: dict[str, float] = {}

    async def accept(referral: dict[str, Any], at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        response = await client.post(
            f"/v1/referrals/{referral['id']}/transitions",
            headers={**receiver_headers, "If-Match": f'"{referral["version"]}"'}, json={"to": "accepted"})
        committed[referral["id"]] = time.time()
        assert response.status_code == 200, response.text

    started = time.monotonic() + 0.5
    load_before = os.getloadavg()[0]
    await asyncio.gather(*(
        accept(referral, started + index / TRANSITIONS_PER_SECOND)
        for index, referral in enumerate(referrals)
    ))
    deadline = time.monotonic() + 30
    while len(arrivals) < len(referrals) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    load_after = os.getloadavg()[0]
    await runner.cleanup()
    arrived = [rid for rid in committed if rid in arrivals]
    after_response = sorted((arrivals[rid][0] - committed[rid]) * 1000 for rid in arrived)
    after_event = sorted(
        (arrivals[rid][0] - datetime.fromisoformat(arrivals[rid][1]).timestamp()) * 1000
        for rid in arrived)
    return f"""## Event latency

{TRANSITIONS} `accepted` transitions at {TRANSITIONS_PER_SECOND} per second through the gateway;
a local receiver subscribed to `referral.accepted` records each webhook's arrival. "After
response" starts when the transition's response (sent after the commit) reaches the client;
"event time" starts at the event's timestamp, taken inside the transaction before the commit
(an upper bound). Arrived: {len(arrived)} of {TRANSITIONS}. One-minute load average of the
machine: {load_before:.1f} before the transitions, {load_after:.1f} after ({os.cpu_count()} cores).

| | median | p99 | target |
|---|---|---|---|
| commit → webhook (after response) | {statistics.median(after_response):.1f} ms | {percentile(after_response, 0.99):.1f} ms | median ≤ 20 ms, p99 ≤ 100 ms |
| event time → webhook | {statistics.median(after_event):.1f} ms | {percentile(after_event, 0.99):.1f} ms | |
"""


async def _referral(
    client: httpx.AsyncClient, sender_headers: dict[str, Any], receiver_id: str,
    service: dict[str, Any],
) -> dict[str, Any]:
    case = await created(await client.post("/v1/cases", headers=sender_headers, json={"person": PERSON}))
    await client.put(f"/v1/cases/{case['id']}/consent", headers=sender_headers, json={
        "legal_basis": "consent", "scope": {"countries": ["LB"]},
        "given_at": "2026-11-20T10:00:00Z", "method": "verbal"})
    async def refer() -> httpx.Response:
        return await client.post("/v1/referrals", headers=sender_headers, json={
            "case_id": case["id"], "receiver_org_id": receiver_id, "service_id": service["id"],
            "migration_stage": "destination", "categories": service["categories"],
            "urgency": "normal", "reason": "bench", "shared_fields": []})

    response = await refer()
    for _attempt in range(99):  # the referrals service learns of the service from an event
        if response.status_code == 201:
            break
        await asyncio.sleep(0.1)
        response = await refer()
    if response.status_code != 201:
        raise RuntimeError(f"referral not created: {response.text}")
    referral: dict[str, Any] = response.json()
    return referral
