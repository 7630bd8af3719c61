"""Referral creation under load (wrk), full lifecycles (wrk, one connection per thread walking
create → accepted → completed), and every event counted at the notifications service — all
through the gateway of the distributed network."""

import asyncio
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.support import Bench, WrkResult, _latency, found
from tests.e2e.flow import (
    PERSON,
    created,
    organisation_with_client,
    refer_when_receiver_known,
    service_body,
)

CREATION_CONNECTIONS = 16
LIFECYCLE_CONNECTIONS = 24
DURATION = "15s"
EVENT_WAIT_SECONDS = 120

# Each wrk thread has one connection, its own Lua state and its own case: a lifecycle is three
# requests in turn on that connection, the referral's id taken from the creation's answer.
LIFECYCLE_SCRIPT = """
local create_bodies, receiver_token = {%(create_bodies)s}, %(receiver_token)s
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("number", #threads)
end
function init(args)
  step, referral, lifecycles, failures = "create", nil, 0, 0
  create_body = create_bodies[number]
end
function request()
  if step == "create" then
    return wrk.format("POST", "/v1/referrals", nil, create_body)
  end
  local body = step == "accept" and '{"to":"accepted"}'
    or '{"to":"completed","outcome":"Helped"}'
  return wrk.format("POST", "/v1/referrals/" .. referral .. "/transitions", {
    ["Authorization"] = receiver_token, ["Content-Type"] = "application/json",
    ["If-Match"] = step == "accept" and '"1"' or '"2"',
  }, body)
end
function response(status, headers, body)
  if step == "create" and status == 201 then
    referral, step = body:match('"id":"([%%x%%-]+)"'), "accept"
  elseif step == "accept" and status == 200 then
    step = "complete"
  elseif step == "complete" and status == 200 then
    step, lifecycles = "create", lifecycles + 1
  else
    step, failures = "create", failures + 1
  end
end
function done(summary, latency, requests)
  local lifecycles, failures = 0, 0
  for _, thread in ipairs(threads) do
    lifecycles = lifecycles + thread:get("lifecycles")
    failures = failures + thread:get("failures")
  end
  io.write(string.format("lifecycles %%d failures %%d\\n", lifecycles, failures))
end
"""


@dataclass(frozen=True)
class LifecycleResult:
    per_second: float
    request_p99_ms: float
    lifecycles: int


def _serving_process(part: str, port: int) -> Path:
    """/proc of the process serving `part` for the network on `port` (other networks may run)."""
    for process in Path("/proc").iterdir():
        try:
            command = (process / "cmdline").read_bytes().split(b"\0")
            environment = (process / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        serves = any(command[at:at + 2] == [b"serve", part.encode()] for at in range(len(command)))
        if serves and (
            f"WAYMARK_PORT={port}".encode() in environment
        ):
            return process
    raise RuntimeError(f"no process serves {part} for the network on port {port}")


def _cpu_seconds(process: Path) -> float:
    """User and system time so far (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = (process / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run_wrk(script: str, threads: int, connections: int, url: str, headers: dict[str, str]) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{DURATION}", "--latency",
                   "-s", file.name]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        return subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout


def _wrk_post(url: str, headers: dict[str, str], body: str) -> tuple[WrkResult, int]:
    """wrk with a POST body (a Lua script); the result and how many requests were answered."""
    output = _run_wrk(
        f"wrk.method = \"POST\"\nwrk.body = {json.dumps(body)}\n"
        "wrk.headers[\"Content-Type\"] = \"application/json\"\n",
        2, CREATION_CONNECTIONS, url, headers,
    )
    if "Non-2xx" in output:
        raise RuntimeError(f"wrk saw errors:\n{output}")
    return WrkResult(
        float(found(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        _latency(output, "50%"), _latency(output, "99%"),
    ), int(found(r"(\d+) requests in", output).group(1))


def _wrk_lifecycles(
    base_url: str, sender: dict[str, Any], receiving: dict[str, Any], bodies: list[str]
) -> LifecycleResult:
    script = LIFECYCLE_SCRIPT % {
        "create_bodies": ", ".join(json.dumps(body) for body in bodies),
        "receiver_token": json.dumps(receiving["Authorization"]),
    }
    output = _run_wrk(
        script, LIFECYCLE_CONNECTIONS, LIFECYCLE_CONNECTIONS, base_url,
        {**sender, "Content-Type": "application/json"},
    )
    lifecycles, failures = map(int, found(r"lifecycles (\d+) failures (\d+)", output).groups())
    if failures or "Non-2xx" in output:
        raise RuntimeError(f"lifecycles failed:\n{output}")
    seconds = float(found(r"requests in ([\d.]+)s", output).group(1))
    return LifecycleResult(lifecycles / seconds, _latency(output, "99%"), lifecycles)


async def _transitions_made(client: httpx.AsyncClient, headers: dict[str, Any]) -> int:
    """Every transition of the receiver's referrals, counted from their statuses: a creation
    requests (1), an acceptance adds one, a completion another."""
    steps = {"requested": 1, "accepted": 2, "completed": 3}
    counted, cursor = 0, None
    while True:
        page = await client.get("/v1/referrals", headers=headers, params={
            "role": "received", "limit": 100, **({"cursor": cursor} if cursor else {})})
        page.raise_for_status()
        counted += sum(steps[item["status"]] for item in page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return counted


async def _settled_transitions(client: httpx.AsyncClient, headers: dict[str, Any]) -> int:
    """The count once it stops changing: requests that wrk cut off at its end may still be
    served after it."""
    counted, previous = await _transitions_made(client, headers), None
    while counted != previous:
        await asyncio.sleep(1)
        counted, previous = await _transitions_made(client, headers), counted
    return counted


async def _referral_events(
    client: httpx.AsyncClient, headers: dict[str, Any], cursor: str | None
) -> tuple[int, str | None]:
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


async def _referral_body(
    client: httpx.AsyncClient, sender: dict[str, Any], receiver: dict[str, Any],
    service: dict[str, Any],
) -> dict[str, Any]:
    """A new case with consent to share with the receiver's country, and a referral of it."""
    case = await created(await client.post("/v1/cases", headers=sender, json={"person": PERSON}))
    consent = await client.put(f"/v1/cases/{case['id']}/consent", headers=sender, json={
        "legal_basis": "consent", "scope": {"countries": ["LB"]},
        "given_at": "2026-11-20T10:00:00Z", "method": "verbal"})
    consent.raise_for_status()
    return {
        "case_id": case["id"], "receiver_org_id": receiver["id"], "service_id": service["id"],
        "migration_stage": "destination", "categories": service["categories"],
        "urgency": "normal", "reason": "bench", "shared_fields": ["given_name", "safe_contact"],
    }


async def measure(bench: Bench) -> str:
    client = bench.client
    load_before = os.getloadavg()[0]
    _, sender = await organisation_with_client(client, bench.admin, "Bench referrer", "NP")
    receiver, receiving = await organisation_with_client(client, bench.admin, "Bench receiver", "LB")
    service = await created(await client.post(
        "/v1/services", headers=receiving, json=service_body(receiver["id"], "LB", "Beirut")))
    bodies = [
        await _referral_body(client, sender, receiver, service)
        for _ in range(LIFECYCLE_CONNECTIONS)
    ]
    body = bodies[0]
    await refer_when_receiver_known(client, sender, body)  # the directory knows the service
    referrals = _serving_process("referrals", bench.port)
    cpu_before = _cpu_seconds(referrals)
    creation, created_count = _wrk_post(f"{bench.base_url}/v1/referrals", sender, json.dumps(body))
    cpu_between = _cpu_seconds(referrals)
    lifecycles = _wrk_lifecycles(
        bench.base_url, sender, receiving, [json.dumps(body) for body in bodies]
    )
    creation_cpu_ms = 1000 * (cpu_between - cpu_before) / created_count
    lifecycle_cpu_ms = 1000 * (_cpu_seconds(referrals) - cpu_between) / lifecycles.lifecycles
    load_after = os.getloadavg()[0]
    transitions = await _settled_transitions(client, receiving)

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
Creation: wrk, {CREATION_CONNECTIONS} connections for {DURATION}, each request a new
referral of one existing case (consent recorded, a service of the receiver, two shared fields).
Lifecycle: wrk, {LIFECYCLE_CONNECTIONS} connections for {DURATION}, each creating a referral of a case of its own, then
as the receiver moving it to `accepted` and `completed` (with `If-Match`), again and again
(the receiver's every read of a person goes into that case's disclosure ledger, one writer at a
time per case: with one case for all connections the lifecycles queue there).
Events: every `referral.*` event of the receiving organisation's feed (`GET /v1/events`, kept by
the notifications service from RabbitMQ) counted against the transitions the referrals' final
statuses show (a creation is one `referral.requested`). One-minute load average of the machine
before the section: {load_before:.1f}, after the load: {load_after:.1f} (on {os.cpu_count()} cores;
the network, PostgreSQL, RabbitMQ and wrk share them). The referrals process's CPU time (user
and system, from /proc) during each load, divided by the creations or lifecycles done, depends
less on that load than the rates do; it includes its outbox relay publishing the events.

| | figure | target |
|---|---|---|
| referral creation | {creation.requests_per_second:.0f}/s, median {creation.median_ms:.1f} ms, p99 {creation.p99_ms:.1f} ms | ≥ 300/s, p99 ≤ 100 ms |
| full lifecycles (create → accepted → completed) | {lifecycles.per_second:.0f}/s (p99 of their requests {lifecycles.request_p99_ms:.1f} ms) | ≥ 100/s |
| CPU of the referrals process | {creation_cpu_ms:.1f} ms per creation, {lifecycle_cpu_ms:.1f} ms per lifecycle | — |
| events received by notifications / transitions made | {received} / {transitions} ({verdict}) | none lost |
"""
