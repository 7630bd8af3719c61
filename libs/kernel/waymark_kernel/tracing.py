"""OpenTelemetry tracing, off unless configured: one W3C trace context from the gateway through
the owning service, its outbox row, the CloudEvent and each consumer to the webhook attempt.

Off, no SDK is loaded and every helper here is a flag check. Span names and attributes hold
methods, routes, event types and ids, never personal data; a failure is named by its
exception's type only, as its message may quote what was sent.
"""

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:  # the SDK is imported only when tracing starts
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = [
    "ServerSpans", "SpanKind", "TraceSpan", "current_trace_headers",
    "enabled", "route_taken", "span", "start_tracing", "stop_tracing", "trace_headers_of",
]

TRACE_HEADERS = ("traceparent", "tracestate")
_TRACE_HEADER_BYTES = tuple(name.encode() for name in TRACE_HEADERS)
_PROPAGATOR = TraceContextTextMapPropagator()
Attributes = Mapping[str, AttributeValue]


class _Tracing:
    provider: "TracerProvider | None" = None
    tracers: dict[str, trace.Tracer] = {}


_tracing = _Tracing()


def start_tracing(service_name: str, exporter: "SpanExporter | None" = None) -> None:
    """Spans of this process from now on: to `exporter`, each as it ends (tests), or in
    batches over OTLP/HTTP where the standard OTEL_EXPORTER_OTLP_* variables say."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    stop_tracing()
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _tracing.provider, _tracing.tracers = provider, {}


def stop_tracing() -> None:
    """Sends what is left and turns tracing off."""
    provider, _tracing.provider, _tracing.tracers = _tracing.provider, None, {}
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    return _tracing.provider is not None


def _tracer(component: str) -> trace.Tracer:
    tracer = _tracing.tracers.get(component)
    if tracer is None:
        if _tracing.provider is None:
            raise RuntimeError("tracing is off: no tracer to give")
        tracer = _tracing.tracers[component] = _tracing.provider.get_tracer(f"waymark.{component}")
    return tracer


def trace_headers_of(traceparent: str | None, tracestate: str | None) -> dict[str, str]:
    """Stored trace context (an outbox row, a delivery, an event) as W3C headers."""
    headers = {}
    if traceparent:
        headers["traceparent"] = traceparent
        if tracestate:
            headers["tracestate"] = tracestate
    return headers


def current_trace_headers() -> dict[str, str]:
    """The W3C headers of the span in progress; empty when tracing is off or outside spans."""
    if _tracing.provider is None:
        return {}
    headers: dict[str, str] = {}
    _PROPAGATOR.inject(headers)
    return headers


class TraceSpan:
    """A span in progress; without one (tracing off) it does nothing."""

    def __init__(self, span: trace.Span | None = None) -> None:
        self._span = span

    @property
    def headers(self) -> dict[str, str]:
        """The W3C headers that make the next hop a child of this span."""
        if self._span is None:
            return {}
        headers: dict[str, str] = {}
        _PROPAGATOR.inject(headers, trace.set_span_in_context(self._span))
        return headers

    def set(self, key: str, value: AttributeValue) -> None:
        if self._span is not None:
            self._span.set_attribute(key, value)

    def rename(self, name: str) -> None:
        if self._span is not None:
            self._span.update_name(name)

    def failed(self, reason: str) -> None:
        if self._span is not None:
            self._span.set_status(StatusCode.ERROR, reason)


_OFF_SPAN = contextlib.nullcontext(TraceSpan())  # reusable: off, a span costs one call


def span(
    component: str, name: str, kind: SpanKind, *, parent: Mapping[str, str] | None = None,
    attributes: Attributes | None = None,
) -> contextlib.AbstractContextManager[TraceSpan]:
    """A span, current inside the block, the child of `parent` (W3C headers; empty: a new
    trace) or, when None, of the span in progress."""
    if _tracing.provider is None:
        return _OFF_SPAN
    return _recorded_span(_tracer(component), name, kind, parent, attributes)


@contextlib.contextmanager
def _recorded_span(
    tracer: trace.Tracer, name: str, kind: SpanKind, parent: Mapping[str, str] | None,
    attributes: Attributes | None,
) -> Iterator[TraceSpan]:
    context = None if parent is None else _PROPAGATOR.extract(parent)
    with tracer.start_as_current_span(
        name, context=context, kind=kind, attributes=attributes,
        record_exception=False, set_status_on_exception=False,
    ) as current:
        traced = TraceSpan(current)
        try:
            yield traced
        except BaseException as exc:
            traced.failed(type(exc).__name__)
            raise


def route_taken(method: str, route: str) -> None:
    """Names the request's server span after the route it took, where no router names it."""
    if _tracing.provider is None:
        return
    current = trace.get_current_span()
    if current.is_recording():
        current.update_name(f"{method} {route}")
        current.set_attribute("http.route", route)


class ServerSpans:
    """Pure ASGI: a server span for each HTTP request, the child of the caller's
    `traceparent`, named by method and route template (never the path: the query may hold
    search words)."""

    def __init__(self, app: ASGIApp, component: str) -> None:
        self.app = app
        self.component = component

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _tracing.provider is None:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        incoming = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"] if name in _TRACE_HEADER_BYTES
        }
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with span(
            self.component, method, SpanKind.SERVER, parent=incoming,
            attributes={"http.request.method": method},
        ) as traced:
            try:
                await self.app(scope, receive, send_with_status)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):
                    traced.rename(f"{method} {route}")
                    traced.set("http.route", route)
                traced.set("http.response.status_code", status)
                if status >= 500:
                    traced.failed(f"HTTP {status}")
