"""The raw ASGI layer that authenticates and forwards every `/v1/...` call owned by a service;
anything else (identity, documents, operations) falls through to the gateway's own routes."""

import re
import time
from typing import TYPE_CHECKING, Generic, TypeVar
from urllib.parse import quote

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from waymark_gateway.proxy.addresses import ClientAddresses
from waymark_gateway.proxy.ratelimit import RateLimits
from waymark_gateway.proxy.upstreams import UpstreamResponse, Upstreams
from waymark_kernel.http_client import Headers
from waymark_kernel.logging import request_id_var
from waymark_kernel.problems import Problem, problem_response
from waymark_kernel.tracing import SpanKind, route_taken, span

if TYPE_CHECKING:  # the sessions import the proxy's rate limits
    from waymark_gateway.sessions.authentication import RequestAuthenticator

MAX_BODY_BYTES = 1024 * 1024  # any route but those given a limit of their own
IMPORT_ROUTE = "POST /v1/hsds/dataset"  # the registry's bulk import: whole directories
IMPORT_PAGE_ROUTE = "POST /admin/directory/import"  # the web app's form for the same files
FORM_ENVELOPE_BYTES = 64 * 1024  # a form's other fields and multipart boundaries around the file
MAX_HEADER_BYTES = 16 * 1024  # all header names and values of a request together
SERVICE_OF_COLLECTION = {
    "organizations": "registry", "services": "registry", "taxonomy": "registry",
    "countries": "registry", "hsds": "registry",
    "cases": "referrals", "referrals": "referrals", "stats": "referrals",
    "subscriptions": "notifications", "event-types": "notifications",
    "events": "notifications", "inbox": "notifications",
}
# The organisations' clients, people, invitations and audit log are the gateway's own.
GATEWAY_OWN_PATH = re.compile(
    r"/v1/organizations/[^/]+/(clients|invitations|people|audit)(/[^/]*)?/?"
)
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
    b"trailer", b"trailers", b"transfer-encoding", b"upgrade",
})
# Recomputed for the next hop: host and length by the upstream client, the id by the request
# context; the body is read whole before it is sent on, so nothing is left to expect. Cookies
# (a person's session) are the gateway's: the services get the token it issues instead.
NOT_FORWARDED = HOP_BY_HOP | {
    b"host", b"content-length", b"x-request-id", b"expect", b"cookie", b"x-csrf-token",
}
TRACE_HEADERS = frozenset({b"traceparent", b"tracestate"})
# The gateway's own server writes these on the way out.
NOT_RETURNED = HOP_BY_HOP | {b"content-length", b"x-request-id", b"date", b"server"}


ROUTE_REQUESTS = Counter(
    "waymark_gateway_requests_total", "Proxied requests by route and status",
    ["route", "method", "status"],
)
ROUTE_LATENCY = Histogram(
    "waymark_gateway_request_duration_seconds", "Proxied request latency by route and status",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
WORD_SEGMENT = re.compile(r"[a-z_-]{1,32}|v[0-9]")  # a word, or the API's version
MAX_ROUTES = 200  # label values are bounded: hostile paths must not grow the metrics endlessly
_routes: set[str] = set()
Value = TypeVar("Value", int, float)


def route_of(path: str) -> str:
    """`/v1/cases/{id}/consent` for `/v1/cases/<uuid>/consent`; `other` past the cap."""
    segments = [
        segment if WORD_SEGMENT.fullmatch(segment) else "{id}"
        for segment in path.split("/")[1:]
    ]
    route = "/" + "/".join(segments)
    if route not in _routes:
        if len(_routes) >= MAX_ROUTES:
            return "other"
        _routes.add(route)
    return route


def service_for(path: str) -> str | None:
    """The service that owns `path`, or None when the gateway answers it itself."""
    if not path.startswith("/v1/"):
        return None
    service = SERVICE_OF_COLLECTION.get(path[4:].partition("/")[0])
    if service == "registry" and GATEWAY_OWN_PATH.fullmatch(path):
        return None
    return service


class HeadersTooLarge(Problem):
    def __init__(self) -> None:
        super().__init__(431, f"The request headers are larger than {MAX_HEADER_BYTES} bytes.")


def header_bytes(scope: Scope) -> int:
    return sum(len(name) + len(value) for name, value in scope["headers"])


class RouteTable(Generic[Value]):
    """Values (timeouts, body limits) by method and path prefix, `{"GET /v1/stats": 30}`;
    the longest matching prefix wins, None when none matches."""

    def __init__(self, setting_name: str, setting: dict[str, Value]) -> None:
        routes: list[tuple[str, str, Value]] = []
        for route, value in setting.items():
            method, _, prefix = route.strip().partition(" ")
            if not prefix.startswith("/") or value <= 0:
                raise ValueError(f"{setting_name}: {route!r} is not `METHOD /path=number`")
            routes.append((method.upper(), prefix.strip(), value))
        self.routes: list[tuple[str, str, Value]] = sorted(
            routes, key=lambda route: len(route[1]), reverse=True
        )

    def of(self, method: str, path: str) -> Value | None:
        for route_method, prefix, value in self.routes:
            if route_method == method and path.startswith(prefix):
                return value
        return None


class RouteLimits(RouteTable[int]):
    """A RouteTable that gives every route a limit: `default` when no route matches."""

    def __init__(self, setting_name: str, setting: dict[str, int], default: int) -> None:
        super().__init__(setting_name, setting)
        self.default = default

    def of(self, method: str, path: str) -> int:
        limit = super().of(method, path)
        return self.default if limit is None else limit


class BodyTooLarge(Problem):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


def declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def capped_receive(receive: Receive, limit: int) -> Receive:
    """`receive` that raises 413 as soon as the body grows past `limit`, before the rest is read."""
    received = 0

    async def receive_capped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message
    return receive_capped


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise Problem(400, "The client went away before sending the whole body.")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def forwarded_headers(
    scope: Scope, addresses: ClientAddresses, request_id: str, token: str | None = None
) -> Headers:
    """The caller's headers for the next hop; `token` replaces the caller's bearer token."""
    headers = [(name, value) for name, value in scope["headers"] if name not in NOT_FORWARDED]
    if token is not None:
        headers = [(name, value) for name, value in headers if name != b"authorization"]
        headers.append((b"authorization", b"Bearer " + token.encode("ascii")))
    headers.append((b"x-request-id", request_id.encode("latin-1")))
    return addresses.forwarding_headers(scope, headers)


def with_trace(headers: Headers, trace: dict[str, str]) -> Headers:
    """The upstream call's trace context in place of the caller's (unchanged when off)."""
    if not trace:
        return headers
    return [(name, value) for name, value in headers if name not in TRACE_HEADERS] + [
        (name.encode("ascii"), value.encode("latin-1")) for name, value in trace.items()
    ]


def returned_headers(method: str, response: UpstreamResponse) -> Headers:
    if method == "HEAD":  # the upstream's length describes the body a GET would get
        return [(name.lower(), value) for name, value in response.headers
                if name.lower() not in NOT_RETURNED - {b"content-length"}]
    headers = [(name.lower(), value) for name, value in response.headers
               if name.lower() not in NOT_RETURNED]
    if response.status not in (204, 304):
        headers.append((b"content-length", str(len(response.body)).encode()))
    return headers


class GatewayProxy:
    def __init__(
        self, app: ASGIApp, *, upstreams: Upstreams, authenticator: "RequestAuthenticator",
        rate_limits: RateLimits, client_addresses: ClientAddresses,
        route_timeouts: RouteTable[float], body_limits: RouteLimits,
    ) -> None:
        self.app = app
        self.upstreams = upstreams
        self.authenticator = authenticator
        self.rate_limits = rate_limits
        self.client_addresses = client_addresses
        self.route_timeouts = route_timeouts
        self.body_limits = body_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        service = service_for(scope["path"])
        body_limit = self.body_limits.of(scope["method"], scope["path"])
        try:
            if header_bytes(scope) > MAX_HEADER_BYTES:
                raise HeadersTooLarge()
            length = declared_length(scope)
            if length is not None and length > body_limit:
                raise BodyTooLarge(body_limit)
            if service is not None:
                await self.measured_forward(
                    service, scope, capped_receive(receive, body_limit), send
                )
                return
        except Problem as problem:
            response = problem_response(
                problem.status, problem.detail, kind=problem.kind, title=problem.title,
                headers=problem.headers, extra=problem.extra, instance=scope["path"],
            )
            await response(scope, receive, send)
            return
        await self.app(scope, capped_receive(receive, body_limit), send)

    async def measured_forward(
        self, service: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        started = time.perf_counter()
        status = 500
        route = route_of(scope["path"])
        route_taken(scope["method"], route)

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.forward(service, scope, receive, send_counted)
        except Problem as problem:
            status = problem.status
            raise
        finally:
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
            labels = (route, method, str(status))
            ROUTE_REQUESTS.labels(*labels).inc()
            ROUTE_LATENCY.labels(*labels).observe(time.perf_counter() - started)

    async def forward(self, service: str, scope: Scope, receive: Receive, send: Send) -> None:
        caller = await self.authenticator.authenticate(scope)
        limit_headers = await self.rate_limits.check_client(caller.identity)
        body = await read_body(receive)
        path = scope.get("raw_path") or quote(scope["path"]).encode()
        outgoing = forwarded_headers(
            scope, self.client_addresses, request_id_var.get() or "", caller.upstream_token
        )
        with span(
            "gateway", f"{scope['method']} {service}", SpanKind.CLIENT,
            attributes={"http.request.method": scope["method"], "waymark.upstream": service},
        ) as traced:
            response = await self.upstreams.request(
                service, scope["method"], path.partition(b"?")[0], scope["query_string"],
                with_trace(outgoing, traced.headers), body,
                timeout=self.route_timeouts.of(scope["method"], scope["path"]),
            )
            traced.set("http.response.status_code", response.status)
        headers = returned_headers(scope["method"], response)
        headers += [(name.lower().encode(), value.encode()) for name, value in limit_headers.items()]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
