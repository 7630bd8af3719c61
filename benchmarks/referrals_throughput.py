"""Referral creation under load (wrk), full lifecycles, and every event counted at the
notifications service — all through the gateway of the distributed network."""

import asyncio
import json
import os
import re
import subprocess
import tempfile
import time

from benchmarks.support import Bench, WrkResult, _latency
from tests.e2e.flow import (
    PERSON,
    created,
    organisation_with_client,
    refer_when_receiver_known,
    service_body,
)

CREATION_CONNECTIONS = 16
CREATION_DURATION = "15s"
LIFECYCLES = 600
LIFECYCLE_CONCURRENCY = 24
EVENT_WAIT_SECONDS = 120


def _wrk_post(url: str, headers: dict[str, str], body: str) -> WrkResult:
    """wrk with a POST body (a Lua script)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(f"wrk.method = \"POST\"\nwrk.body = {json.dumps(body)}\n"
                     "wrk.headers[\"Content-Type\"] = \"application/json\"\n")
        script.flush()
        command = ["wrk", "-t2", f"-c{CREATION_CONNECTIONS}", f"-d{CREATION_DURATION}",
                   "--latency", "-s", script.name]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"wrk saw errors:\n{output}")
    return WrkResult(
        float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        _latency(output, "50%"), _latency(output, "99%"),
    )


async def _count_referrals(client, headers: dict) -> int:
    counted, cursor = 0, None
    while True:
        page = await client.get("/v1/referrals", headers=headers, params={
            "role": "received", "limit": 100, **({"cursor": cursor} if cursor else {})})
        page.raise_for_status()
        counted += len(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return counted


async def _referral_events(client, headers: dict, cursor: str | None) -> tuple[int, str | None]:
    """Counts the referral.* events of the caller's feed after `cursor`; returns the new cursor."""
    counted = 0
    while True:
        page = await client.get("/v1/events", headers=headers,
                                params={"limit": 100, **({"after": cursor} if cursor else {})})
        page.raise_for_status()
        items = page.json()["items"]
        if not items:
            return counted, cursor
        counted += sum(item["type"].startswith("referral.") for item in items)
        cursor = page.json()["next_cursor"]


async def measure(bench: Bench) -> str:
    client = bench.client
    load_before = os.getloadavg()[0]
    _, sender = await organisation_with_client(client, bench.admin, "Bench referrer", "NP")
    receiver, receiving = await organisation_with_client(client, bench.admin, "Bench receiver", "LB")
    service = await created(await client.post(
        "/v1/services", headers=receiving, json=service_body(receiver["id"], "LB", "Beirut")))
    case = await created(await client.post("/v1/cases", headers=sender, json={"person": PERSON}))
    consent = await client.put(f"/v1/cases/{case['id']}/consent", headers=sender, json={
        "legal_basis": "consent", "scope": {"countries": ["LB"]},
        "given_at": "2026-11-20T10:00:00Z", "method": "verbal"})
    consent.raise_for_status()
    body = {
        "case_id": case["id"], "receiver_org_id": receiver["id"], "service_id": service["id"],
        "migration_stage": "destination", "categories": service["categories"],
        "urgency": "normal", "reason": "bench", "shared_fields": ["given_name", "safe_contact"],
    }
    await refer_when_receiver_known(client, sender, body)  # the directory knows the service
    creation = _wrk_post(f"{bench.base_url}/v1/referrals", sender, json.dumps(body))

    semaphore = asyncio.Semaphore(LIFECYCLE_CONCURRENCY)

    async def lifecycle() -> None:
        async with semaphore:
            referral = await created(await client.post("/v1/referrals", headers=sender, json=body))
            for version, step in enumerate(
                ({"to": "accepted"}, {"to": "completed", "outcome": "Helped"}), start=1
            ):
                moved = await client.post(
                    f"/v1/referrals/{referral['id']}/transitions", json=step,
                    headers={**receiving, "If-Match": f'"{version}"'},
                )
                assert moved.status_code == 200, moved.text

    started = time.monotonic()
    await asyncio.gather(*(lifecycle() for _ in range(LIFECYCLES)))
    lifecycle_seconds = time.monotonic() - started
    # Each referral was requested once (wrk's count leaves out requests cut off at its end).
    transitions = await _count_referrals(client, receiving) + LIFECYCLES * 2

    received, cursor = 0, None
    deadline = time.monotonic() + EVENT_WAIT_SECONDS
    while received < transitions and time.monotonic() < deadline:
        more, cursor = await _referral_events(client, receiving, cursor)
        received += more
        if received < transitions:
            await asyncio.sleep(0.5)
    lost = transitions - received
    verdict = "none lost" if lost == 0 else (
        f"{lost} missing after {EVENT_WAIT_SECONDS} s" if lost > 0
        else f"{-lost} more events than transitions")
    return f"""## Referrals

Through the gateway, as one sending and one receiving organisation (caseworker clients).
Creation: wrk, {CREATION_CONNECTIONS} connections for {CREATION_DURATION}, each request a new
referral of one existing case (consent recorded, a service of the receiver, two shared fields).
Lifecycle: {LIFECYCLES} referrals created → `accepted` → `completed` by the receiver, {LIFECYCLE_CONCURRENCY} at a
time. Events: every `referral.*` event of the receiving organisation's feed (`GET /v1/events`,
kept by the notifications service from RabbitMQ) counted against the transitions made
(each creation is one `referral.requested`). One-minute load average of the machine before
the section: {load_before:.1f}, after: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} cores).

| | figure | target |
|---|---|---|
| referral creation | {creation.requests_per_second:.0f}/s, median {creation.median_ms:.1f} ms, p99 {creation.p99_ms:.1f} ms | ≥ 300/s, p99 ≤ 100 ms |
| full lifecycles (create → accepted → completed) | {LIFECYCLES / lifecycle_seconds:.0f}/s | ≥ 100/s |
| events received by notifications / transitions made | {received} / {transitions} ({verdict}) | none lost |
"""
