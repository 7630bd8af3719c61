"""One referral's creation is one trace: the gateway, the referrals service, its outbox relay,
the notifications consumer and the webhook attempt. In standalone mode, started in this
process as `waymark run` starts it, with its spans kept in memory; in distributed mode, each
process of `waymark up` exporting over OTLP/HTTP to a receiver of this test."""

import asyncio
import itertools
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.e2e.flow import PERSON, refer_to_a_subscriber
from tests.e2e.support import (
    ADMIN_SECRET,
    WebhookReceiver,
    clean_up,
    start,
    stop,
)
from waymark_cli.standalone import run_standalone
from waymark_cli.stopping import StopRequest
from waymark_kernel.settings import RunMode, Settings
from waymark_kernel.testing import free_port_block
from waymark_kernel.tracing import start_tracing, stop_tracing

REASON = "Unpaid wages and passport withheld"
# From the request at the gateway to the webhook attempt, each span the child of the one before.
CHAIN = [
    ("gateway", "waymark.gateway", "POST /v1/referrals", SpanKind.SERVER),
    ("gateway", "waymark.gateway", "POST referrals", SpanKind.CLIENT),
    ("referrals", "waymark.referrals", "POST /v1/referrals", SpanKind.SERVER),
    ("referrals", "waymark.outbox", "publish referral.requested", SpanKind.PRODUCER),
    ("notifications", "waymark.notifications", "process referral.requested", SpanKind.CONSUMER),
    ("notifications", "waymark.notifications", "webhook referral.requested", SpanKind.CLIENT),
]


@dataclass(frozen=True)
class Recorded:
    """A span as either exporter gives it."""

    service: str
    scope: str
    name: str
    kind: SpanKind
    trace_id: int
    span_id: int
    parent_id: int | None
    attributes: dict[str, Any]


def from_memory(span: ReadableSpan) -> Recorded:
    assert span.context is not None
    return Recorded(
        str(span.resource.attributes["service.name"]), span.instrumentation_scope.name
        if span.instrumentation_scope else "", span.name, span.kind, span.context.trace_id,
        span.context.span_id, span.parent.span_id if span.parent else None,
        dict(span.attributes or {}),
    )


def _value(attribute: KeyValue) -> Any:
    kind = attribute.value.WhichOneof("value")
    return getattr(attribute.value, kind) if kind else None


def from_otlp(body: bytes) -> list[Recorded]:
    request = ExportTraceServiceRequest.FromString(body)
    recorded = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _value(kv) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                recorded.append(Recorded(
                    resource["service.name"], scope_spans.scope.name, span.name,
                    SpanKind(span.kind - 1),  # the protocol counts from UNSPECIFIED
                    int.from_bytes(span.trace_id), int.from_bytes(span.span_id),
                    int.from_bytes(span.parent_span_id) if span.parent_span_id else None,
                    {kv.key: _value(kv) for kv in span.attributes},
                ))
    return recorded


async def assert_one_trace(
    referral: dict[str, Any], receiver: WebhookReceiver, spans: Callable[[], list[Recorded]],
    services: dict[str, str],
) -> None:
    """The webhook names its attempt's span; that span's trace runs back, parent by parent,
    to the gateway's span of the request that created the referral. `services`: the
    service.name of each part's spans."""
    await receiver.wait_for(1)
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert json.loads(body)["data"]["referral_id"] == referral["id"]
    version, trace_hex, attempt_hex, flags = headers["traceparent"].split("-")
    assert version == "00"
    assert int(flags, 16) & 1
    trace_id = int(trace_hex, 16)

    wanted = {(scope, name) for _, scope, name, _ in CHAIN}
    def in_the_trace() -> dict[tuple[str, str], Recorded]:
        return {(span.scope, span.name): span for span in spans() if span.trace_id == trace_id}

    found = in_the_trace()
    for _ in range(199):  # the attempt's span ends once the answer is read, then is exported
        if wanted <= found.keys():
            break
        await asyncio.sleep(0.05)
        found = in_the_trace()
    assert wanted <= found.keys(), sorted(found)

    root = found[CHAIN[0][1:3]]
    assert root.parent_id is None  # the trace begins at the gateway
    assert root.attributes["http.response.status_code"] == 201
    for parent_step, (part, scope, name, kind) in itertools.pairwise(CHAIN):
        child, parent = found[(scope, name)], found[parent_step[1:3]]
        assert (child.kind, child.service) == (kind, services[part]), name
        assert child.parent_id == parent.span_id, f"{name} is not under {parent_step[2]}"
    attempt = found[CHAIN[-1][1:3]]
    assert attempt.span_id == int(attempt_hex, 16)  # the header carried the attempt's span
    assert attempt.attributes["http.response.status_code"] == 204

    # Every span's name and attributes: methods, routes, types and ids, no personal data.
    said = json.dumps([[span.name, span.attributes] for span in spans()])
    for value in [*PERSON.values(), REASON]:
        if isinstance(value, str) and len(value) > 3:
            assert value not in said


@pytest.fixture
async def traced_standalone(tmp_path: Path) -> AsyncIterator[tuple[str, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    start_tracing("waymark", exporter)
    port = free_port_block(1)
    settings = Settings(
        mode=RunMode.standalone, host="127.0.0.1", port=port, data_dir=tmp_path / "var",
        admin_client_secret=ADMIN_SECRET, seed_demo=False, webhook_allow_insecure=True,
        webhook_retry_schedule=[0.2, 0.5, 1],
    )
    stop_request = StopRequest()
    running = asyncio.create_task(run_standalone(settings, stop_request))
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
        stop_request.request("end of test")
        await running
        stop_tracing()


async def test_standalone_a_referrals_creation_is_one_trace_from_the_gateway_to_the_webhook(
    traced_standalone: tuple[str, InMemorySpanExporter], webhook_receiver: WebhookReceiver,
) -> None:
    base_url, exporter = traced_standalone
    referral = await refer_to_a_subscriber(base_url, webhook_receiver, REASON)
    await assert_one_trace(
        referral, webhook_receiver,
        lambda: [from_memory(span) for span in exporter.get_finished_spans()],
        dict.fromkeys(("gateway", "referrals", "notifications"), "waymark"),
    )


class OtlpReceiver(ThreadingHTTPServer):
    """OTLP/HTTP (protobuf) on loopback, in a thread of its own: the spans every process sent."""

    def __init__(self) -> None:
        self.spans: list[Recorded] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _OtlpHandler)

    def recorded(self) -> list[Recorded]:
        with self.lock:
            return list(self.spans)


class _OtlpHandler(BaseHTTPRequestHandler):
    server: OtlpReceiver

    def do_POST(self) -> None:  # the name the standard library calls
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.path == "/v1/traces":
            with self.server.lock:
                self.server.spans.extend(from_otlp(body))
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_: object) -> None:
        """Quiet."""


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    serving = threading.Thread(target=receiver.serve_forever, daemon=True)
    serving.start()
    yield receiver
    receiver.shutdown()
    receiver.server_close()


async def test_distributed_a_referrals_creation_is_one_trace_across_the_processes(
    tmp_path: Path, otlp_receiver: OtlpReceiver, webhook_receiver: WebhookReceiver,
) -> None:
    unique = uuid.uuid4().hex[:10]
    prefix, exchange, queues = f"e2e_{unique}", f"e2e.{unique}.events", f"e2e.{unique}"
    network = await asyncio.to_thread(start, "up", tmp_path, {
        "WAYMARK_DATABASE_PREFIX": prefix, "WAYMARK_EVENT_EXCHANGE": exchange,
        "WAYMARK_QUEUE_PREFIX": queues, "WAYMARK_SEED_DEMO": "false",
        "WAYMARK_TRACING": "true", "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_receiver.server_port}",
    })
    try:
        referral = await refer_to_a_subscriber(network.base_url, webhook_receiver, REASON)
        await assert_one_trace(
            referral, webhook_receiver, otlp_receiver.recorded,
            {part: f"waymark-{part}" for part in ("gateway", "referrals", "notifications")},
        )
    finally:
        await asyncio.to_thread(stop, network)
        await clean_up(prefix, exchange, queues)
