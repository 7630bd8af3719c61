"""One referral's creation is one trace: the gateway, the referrals service, its outbox relay,
the notifications consumer and the webhook attempt. Standalone mode, started in this process
as `waymark run` starts it, its spans kept in memory."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from waymark_cli.standalone import run_standalone
from waymark_cli.stopping import StopRequest
from waymark_kernel.settings import Settings
from waymark_kernel.tracing import start_tracing, stop_tracing

from tests.e2e.flow import (
    PERSON, created, organisation_with_client, refer_when_receiver_known, service_body, token,
)
from tests.e2e.support import ADMIN_SECRET, WebhookReceiver, free_port_block

REASON = "Unpaid wages and passport withheld"


@pytest.fixture
async def traced_standalone(tmp_path: Path) -> AsyncIterator[tuple[str, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    start_tracing("waymark", exporter)
    port = free_port_block(1)
    settings = Settings(
        mode="standalone", host="127.0.0.1", port=port, data_dir=tmp_path / "var",
        admin_client_secret=ADMIN_SECRET, seed_demo=False, webhook_allow_insecure=True,
        webhook_retry_schedule=[0.2, 0.5, 1],
    )
    stop = StopRequest()
    running = asyncio.create_task(run_standalone(settings, stop))
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
            for _ in range(300):
                assert not running.done(), running
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        yield base_url, exporter
    finally:
        stop.request("end of test")
        await running
        stop_tracing()


async def spans_of_trace(
    exporter: InMemorySpanExporter, trace_id: int, names: set[str]
) -> list[ReadableSpan]:
    """The trace's ended spans, once those named have all ended (the last, the webhook
    attempt's, ends once its answer is read)."""
    for _ in range(200):
        spans = [span for span in exporter.get_finished_spans()
                 if span.context is not None and span.context.trace_id == trace_id]
        if names <= {span.name for span in spans}:
            return spans
        await asyncio.sleep(0.05)
    return spans


async def test_a_referrals_creation_is_one_trace_from_the_gateway_to_the_webhook_attempt(
    traced_standalone: tuple[str, InMemorySpanExporter], webhook_receiver: WebhookReceiver,
) -> None:
    base_url, exporter = traced_standalone
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        admin = await token(client, "network-admin", ADMIN_SECRET)
        origin, origin_headers = await organisation_with_client(client, admin, "Origin", "NP")
        destination, destination_headers = await organisation_with_client(
            client, admin, "Destination", "LB"
        )
        service = await created(await client.post(
            "/v1/services", headers=destination_headers,
            json=service_body(destination["id"], "LB", "Beirut"),
        ))
        await created(await client.post(
            "/v1/subscriptions", headers=destination_headers,
            json={"url": webhook_receiver.url, "event_types": ["referral.requested"]},
        ))
        case = await created(await client.post(
            "/v1/cases", headers=origin_headers, json={"person": PERSON},
        ))
        consent = await client.put(f"/v1/cases/{case['id']}/consent", headers=origin_headers, json={
            "legal_basis": "consent", "scope": {"countries": ["LB"]},
            "given_at": "2026-11-20T10:00:00Z", "method": "verbal",
        })
        assert consent.status_code == 200, consent.text
        referral = await refer_when_receiver_known(client, origin_headers, {
            "case_id": case["id"], "receiver_org_id": destination["id"],
            "service_id": service["id"], "migration_stage": "destination",
            "categories": service["categories"], "urgency": "high", "reason": REASON,
            "shared_fields": ["given_name", "phone"],
        })

    await webhook_receiver.wait_for(1)
    assert len(webhook_receiver.received) == 1
    headers, body = webhook_receiver.received[0]
    assert json.loads(body)["data"]["referral_id"] == referral["id"]
    traceparent = headers["traceparent"]
    version, trace_id, webhook_parent, flags = traceparent.split("-")
    assert version == "00" and int(flags, 16) & 1  # sampled

    spans = await spans_of_trace(exporter, int(trace_id, 16), {"webhook referral.requested"})
    by_name = {(span.instrumentation_scope.name, span.name): span for span in spans}
    chain = [
        ("waymark.gateway", "POST /v1/referrals", SpanKind.SERVER),
        ("waymark.gateway", "POST referrals", SpanKind.CLIENT),
        ("waymark.referrals", "POST /v1/referrals", SpanKind.SERVER),
        ("waymark.outbox", "publish referral.requested", SpanKind.PRODUCER),
        ("waymark.notifications", "process referral.requested", SpanKind.CONSUMER),
        ("waymark.notifications", "webhook referral.requested", SpanKind.CLIENT),
    ]
    assert set(by_name) >= {(scope, name) for scope, name, _ in chain}, sorted(by_name)
    root = by_name[chain[0][:2]]
    assert root.parent is None  # the trace begins at the gateway
    for (parent_scope, parent_name, _), (scope, name, kind) in zip(chain, chain[1:]):
        child, parent = by_name[(scope, name)], by_name[(parent_scope, parent_name)]
        assert child.kind is kind
        assert child.parent is not None and parent.context is not None
        assert child.parent.span_id == parent.context.span_id, f"{name} under {parent_name}"
    webhook = by_name[chain[-1][:2]]
    assert webhook.context is not None
    assert int(webhook_parent, 16) == webhook.context.span_id  # the header is the attempt's
    assert webhook.attributes is not None
    assert webhook.attributes["http.response.status_code"] == 204
    assert root.attributes is not None and root.attributes["http.response.status_code"] == 201

    # Names and attributes of every span: methods, routes, types and ids, no personal data.
    said = json.dumps([
        [span.name, dict(span.attributes or {})] for span in exporter.get_finished_spans()
    ])
    for value in [*PERSON.values(), REASON]:
        if isinstance(value, str) and len(value) > 3:
            assert value not in said
