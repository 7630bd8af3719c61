"""The services behind the gateway: over HTTP (distributed mode) or in-process (standalone).

Either way a call gives back the whole answer, or raises UpstreamError (no usable answer:
502) or UpstreamTimeout (no answer in time: 504)."""

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeAlias
from urllib.parse import unquote, urlsplit

from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Message

from waymark_kernel.http_client import Headers, HttpClient, HttpFailure, HttpResponse, Origin
from waymark_kernel.logging import request_id_var
from waymark_kernel.problems import Problem

log = logging.getLogger("waymark.gateway.upstreams")
UpstreamResponse: TypeAlias = HttpResponse
MAX_ANSWER_HEADER_BYTES = 64 * 1024
# When a request may be sent a second time, on a new connection (RFC 9110 §9.2.2):
# - its kept-alive connection was found closed before any byte of an answer: the service
#   closed it while idle as the request went out, so a method whose repetition is harmless
#   (idempotent) goes again at once;
# - any other failure without an answer (refused, reset, malformed): the service may have
#   acted, so only a request whose second answer is the first one's goes again (see
#   `is_retryable`); a second PUT or DELETE would answer 412 or 404 for the caller's success.
RESENT_ON_CLOSED_CONNECTION = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class UpstreamError(Exception):
    """The upstream gave no usable answer (refused, reset, broken)."""


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer within the timeout."""


class Upstream(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def request(
        self, method: str, path: bytes, query_string: bytes, headers: Headers, body: bytes,
        *, timeout: float | None = None,
    ) -> UpstreamResponse:
        """`path` is percent-encoded, as in the ASGI scope's `raw_path`; `timeout` replaces the
        upstream's own for this call."""
        ...


class HttpUpstream:
    """A service reached over HTTP/1.1 through a pool of long-lived keep-alive connections
    (the kernel's client: most of the gateway's overhead is its HTTP client's CPU)."""

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, connections: int = 100,
        idle_seconds: float = 4.0,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"an upstream needs an http(s) URL, not {base_url!r}")
        self.timeout = timeout
        self._origin = Origin(
            url.scheme, url.hostname, url.port or (443 if url.scheme == "https" else 80),
            url.netloc.encode("idna"),
        )
        self._prefix = url.path.rstrip("/").encode()
        self._client = HttpClient(
            timeout=timeout, resent_methods=RESENT_ON_CLOSED_CONNECTION,
            max_header_bytes=MAX_ANSWER_HEADER_BYTES, connections_per_origin=connections,
            # Idle connections are dropped before uvicorn's 5 s keep-alive closes them upstream.
            idle_seconds=idle_seconds,
        )

    async def start(self) -> None:
        """Connections are opened on demand and then kept."""

    async def close(self) -> None:
        self._client.close()

    async def request(
        self, method: str, path: bytes, query_string: bytes, headers: Headers, body: bytes,
        *, timeout: float | None = None,
    ) -> UpstreamResponse:
        target = self._prefix + path + b"?" + query_string if query_string else self._prefix + path
        try:
            return await self._client.request(
                self._origin, method, target, headers, body, timeout=timeout
            )
        except TimeoutError as exc:
            raise UpstreamTimeout("no answer in time") from exc
        except HttpFailure as exc:
            raise UpstreamError(str(exc)) from exc
        except OSError as exc:
            raise UpstreamError(f"{type(exc).__name__}: {exc}") from exc


class AsgiUpstream:
    """A service application called in-process, as if over HTTP (standalone mode)."""

    def __init__(self, app: ASGIApp, *, timeout: float = 10.0) -> None:
        self.app = app
        self.timeout = timeout

    async def start(self) -> None:
        """The launcher runs the application's lifespan; nothing to open here."""

    async def close(self) -> None:
        """Nothing to close: the launcher owns the application."""

    async def request(
        self, method: str, path: bytes, query_string: bytes, headers: Headers, body: bytes,
        *, timeout: float | None = None,
    ) -> UpstreamResponse:
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "method": method, "scheme": "http",
            "path": unquote(path.decode("latin-1")), "raw_path": path,
            "query_string": query_string, "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 80),
        }
        answer: dict[str, Message] = {}
        chunks: list[bytes] = []
        complete = asyncio.Event()
        request_message: Message | None = {"type": "http.request", "body": body, "more_body": False}

        async def receive() -> Message:
            nonlocal request_message
            if request_message is not None:
                message, request_message = request_message, None
                return message
            await complete.wait()  # "disconnected" only once the answer is complete
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["start"] = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    complete.set()

        try:
            async with asyncio.timeout(timeout or self.timeout):
                await self.app(scope, receive, send)
        except TimeoutError as exc:
            raise UpstreamTimeout("no answer in time") from exc
        except Exception as exc:
            # The application has logged it; if it answered (a 500 problem), that answer stands.
            if not complete.is_set():
                raise UpstreamError(type(exc).__name__) from exc
        if not complete.is_set() or "start" not in answer:
            raise UpstreamError("the application ended without a complete answer")
        start = answer["start"]
        return UpstreamResponse(start["status"], list(start.get("headers", ())), b"".join(chunks))


CIRCUIT_STATES = {"closed": 0, "half_open": 1, "open": 2}
UPSTREAM_ERRORS = Counter(
    "waymark_gateway_upstream_errors_total", "Upstream calls without a usable answer",
    ["upstream", "kind"],
)
CIRCUIT_STATE = Gauge(
    "waymark_gateway_upstream_circuit_state",
    "Circuit breaker of each upstream: 0 closed, 1 half-open (probing), 2 open", ["upstream"],
)
UPSTREAM_REFUSALS = Counter(
    "waymark_gateway_upstream_refusals_total",
    "Calls answered 503 at once: circuit open or too many concurrent calls",
    ["upstream", "reason"],
)


def is_retryable(method: str, headers: Headers) -> bool:
    """GET (and HEAD) and a POST carrying an Idempotency-Key may be sent a second time."""
    if method in ("GET", "HEAD"):
        return True
    return method == "POST" and any(name == b"idempotency-key" for name, _ in headers)


class CircuitBreaker:
    """Opens after `threshold` failures in a row; once `open_seconds` have passed one probe of
    the upstream's /healthz decides whether it closes again or stays open."""

    def __init__(self, name: str, *, threshold: int, open_seconds: float) -> None:
        self.name = name
        self.threshold = threshold
        self.open_seconds = open_seconds
        self.failures = 0
        self.opened_at: float | None = None
        self.probing = False
        CIRCUIT_STATE.labels(name).set(0)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.probing else "open"

    def retry_after(self) -> int:
        if self.opened_at is None:
            return 1
        return max(1, math.ceil(self.opened_at + self.open_seconds - time.monotonic()))

    def may_probe(self) -> bool:
        """True (once) when the open period is over and nobody is probing yet."""
        if self.opened_at is None or self.probing:
            return False
        if time.monotonic() - self.opened_at < self.open_seconds:
            return False
        self.probing = True
        CIRCUIT_STATE.labels(self.name).set(1)
        return True

    def succeeded(self) -> None:
        if self.opened_at is not None:
            log.warning("circuit closed", extra={"upstream": self.name})
        self.failures, self.opened_at, self.probing = 0, None, False
        CIRCUIT_STATE.labels(self.name).set(0)

    def failed(self) -> None:
        self.failures += 1
        self.probing = False
        if self.opened_at is not None or self.failures >= self.threshold:
            if self.opened_at is None:
                log.warning("circuit opened", extra={"upstream": self.name})
            self.opened_at = time.monotonic()
            CIRCUIT_STATE.labels(self.name).set(2)


class Unavailable(Problem):
    """503 at once: the circuit is open, or the upstream has too many calls in flight."""

    def __init__(self, name: str, retry_after: int, *, busy: bool) -> None:
        reason = "busy with other requests" if busy else "unavailable"
        super().__init__(
            503, f"The {name} service is {reason}; retry after the Retry-After delay.",
            kind="upstream-overloaded" if busy else "upstream-circuit-open",
            headers={"Retry-After": str(retry_after)},
        )


class Upstreams:
    """The named upstreams of this gateway, each behind a circuit breaker and a cap on
    concurrent calls; failures become 502/503/504 problems naming the service."""

    def __init__(
        self, upstreams: dict[str, Upstream], *, health_timeout: float = 2.0,
        failure_threshold: int = 5, open_seconds: float = 5.0, max_concurrent: int = 100,
    ) -> None:
        self.by_name = upstreams
        self.health_timeout = health_timeout
        self.max_concurrent = max_concurrent
        self.breakers = {
            name: CircuitBreaker(name, threshold=failure_threshold, open_seconds=open_seconds)
            for name in upstreams
        }
        self.in_flight = dict.fromkeys(upstreams, 0)

    async def start(self) -> None:
        for upstream in self.by_name.values():
            await upstream.start()

    async def close(self) -> None:
        for upstream in self.by_name.values():
            await upstream.close()

    async def request(
        self, name: str, method: str, path: bytes, query_string: bytes, headers: Headers,
        body: bytes, *, timeout: float | None = None,
    ) -> UpstreamResponse:
        breaker = self.breakers[name]
        if breaker.opened_at is not None and not await self._probe(name):
            UPSTREAM_REFUSALS.labels(name, "circuit_open").inc()
            raise Unavailable(name, breaker.retry_after(), busy=False)
        if self.in_flight[name] >= self.max_concurrent:
            UPSTREAM_REFUSALS.labels(name, "busy").inc()
            raise Unavailable(name, 1, busy=True)
        self.in_flight[name] += 1
        try:
            response = await self._call(
                name, method, path, query_string, headers, body, timeout
            )
        except UpstreamTimeout as exc:
            UPSTREAM_ERRORS.labels(name, "timeout").inc()
            breaker.failed()
            log.warning("upstream timed out", extra={"upstream": name, "error": str(exc)})
            raise Problem(
                504, f"The {name} service did not answer in time; try again shortly.",
                kind="upstream-timeout", headers={"Retry-After": str(breaker.retry_after())},
            ) from exc
        except UpstreamError as exc:
            UPSTREAM_ERRORS.labels(name, "unavailable").inc()
            breaker.failed()
            log.warning("upstream unavailable", extra={"upstream": name, "error": str(exc)})
            raise Problem(
                502, f"The {name} service is unavailable; try again shortly.",
                kind="upstream-unavailable", headers={"Retry-After": str(breaker.retry_after())},
            ) from exc
        finally:
            self.in_flight[name] -= 1
        breaker.succeeded()
        return response

    async def _call(
        self, name: str, method: str, path: bytes, query_string: bytes, headers: Headers,
        body: bytes, timeout: float | None,
    ) -> UpstreamResponse:
        upstream = self.by_name[name]
        try:
            return await upstream.request(
                method, path, query_string, headers, body, timeout=timeout
            )
        except UpstreamTimeout:
            raise
        except UpstreamError as exc:
            if not is_retryable(method, headers):
                raise
            # A new connection may reach another replica behind the same address.
            UPSTREAM_ERRORS.labels(name, "retried").inc()
            log.info("retrying once", extra={"upstream": name, "error": str(exc)})
            return await upstream.request(
                method, path, query_string, headers, body, timeout=timeout
            )

    async def _probe(self, name: str) -> bool:
        """Whether the upstream may be called: the open period is over and /healthz answers."""
        breaker = self.breakers[name]
        if not breaker.may_probe():
            return False
        try:
            await self._healthz(name)
        except (UpstreamError, TimeoutError):
            breaker.failed()
            return False
        breaker.succeeded()
        return True

    async def _healthz(self, name: str) -> None:
        """The upstream's /healthz, asked directly (past the breaker): 200 or an error."""
        async with asyncio.timeout(self.health_timeout):
            response = await self.by_name[name].request(
                "GET", b"/healthz", b"", [(b"accept", b"application/json")], b""
            )
        if response.status != 200:
            raise UpstreamError(f"/healthz answered {response.status}")

    def states(self) -> dict[str, dict[str, object]]:
        return {
            name: {
                "circuit": breaker.state, "consecutive_failures": breaker.failures,
                "in_flight": self.in_flight[name],
            }
            for name, breaker in self.breakers.items()
        }

    async def get(
        self, name: str, path: str, *, authorization: str | None = None
    ) -> UpstreamResponse:
        """A call of the gateway's own (documents, health, checks) under the current request id."""
        headers = [(b"accept", b"application/json")]
        if authorization:
            headers.append((b"authorization", authorization.encode("latin-1")))
        request_id = request_id_var.get()
        if request_id:
            headers.append((b"x-request-id", request_id.encode("latin-1")))
        return await self.request(name, "GET", path.encode(), b"", headers, b"")

    def health_checks(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Readiness: each upstream's /healthz, asked past its circuit breaker; an answer
        closes an open circuit, a failure does not count towards opening one."""
        def check(name: str) -> Callable[[], Awaitable[None]]:
            async def healthy() -> None:
                await self._healthz(name)
                if self.breakers[name].opened_at is not None:
                    self.breakers[name].succeeded()
            return healthy
        return {name: check(name) for name in self.by_name}
