"""What tracing adds, off, to each proxied request and each event: the CPU of the tracing calls
in the gateway's proxy, the outbox, the consumer and the webhook dispatcher, called in this
process as they are called there (`python -m benchmarks.tracing_off`; no network needed)."""

import time
from collections.abc import Callable

from waymark_gateway.proxy.middleware import with_trace
from waymark_kernel.tracing import (
    SpanKind,
    current_trace_headers,
    enabled,
    route_taken,
    span,
    trace_headers_of,
)

CALLS = 500_000
ROUNDS = 5
HEADERS = [(b"accept", b"application/json")] * 8


def proxied_request() -> None:
    """The gateway's route naming, its client span and the header hook."""
    route_taken("GET", "/v1/organizations/{id}")
    with span("gateway", "GET registry", SpanKind.CLIENT, attributes={
        "http.request.method": "GET", "waymark.upstream": "registry",
    }) as traced:
        with_trace(HEADERS, traced.headers)


def delivered_event() -> None:
    """The outbox row's context, the publish, consumer and webhook attempt spans."""
    current_trace_headers()
    with span("outbox", "publish service.updated", SpanKind.PRODUCER,
              parent=trace_headers_of(None, None), attributes={"cloudevents.event_id": "-"}
              ) as traced:
        assert not traced.headers
    with span("notifications", "process service.updated", SpanKind.CONSUMER,
              parent=trace_headers_of(None, None), attributes={"cloudevents.event_id": "-"}):
        pass
    with span("notifications", "webhook service.updated", SpanKind.CLIENT,
              attributes={"cloudevents.event_id": "-"}) as traced:
        assert not traced.headers
        traced.set("http.response.status_code", 204)


def microseconds_per_call(work: Callable[[], None]) -> float:
    """The fastest of ROUNDS rounds: the others were slowed by the machine's other work."""
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(CALLS):
            work()
        rounds.append((time.perf_counter() - started) / CALLS * 1e6)
    return min(rounds)


if __name__ == "__main__":
    assert not enabled()
    print(f"tracing off: {microseconds_per_call(proxied_request):.2f} µs a proxied request, "
          f"{microseconds_per_call(delivered_event):.2f} µs an event delivered once "
          f"(fastest of {ROUNDS} rounds of {CALLS:,} calls)")
