"""What every Waymark HTTP process shares: request ids, safe response headers (the web app adds
its own to them), metrics, health
and readiness, and a heap settled after start-up."""

import asyncio
import contextlib
import gc
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from waymark_kernel.logging import request_id_var
from waymark_kernel.problems import install_problem_handlers, problem_response
from waymark_kernel.tracing import ServerSpans
from waymark_kernel.tracing import enabled as tracing_enabled

REQUEST_ID_HEADER = b"x-request-id"
REQUESTS = Counter(
    "waymark_http_requests_total", "HTTP requests answered", ["component", "method", "status"]
)
LATENCY = Histogram(
    "waymark_http_request_duration_seconds", "HTTP request latency", ["component", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

ReadinessCheck = Callable[[], Awaitable[None]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
RETRY_AFTER_STOPPING_SECONDS = 5  # a restart, or another replica, answers by then
NOSNIFF = (b"x-content-type-options", b"nosniff")
# Cases, referrals, the inbox, tokens: whatever may carry personal data is never kept by a
# browser or a proxy. A response that may be kept says so itself (the JWKS, documentation files).
NOT_STORED = (b"cache-control", b"no-store")
SAFE_HEADERS = (NOSNIFF, NOT_STORED)


def incoming_request_id(scope: Scope) -> str:
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers", ())
    for name, value in headers:
        if name == REQUEST_ID_HEADER and 0 < len(value) <= 128:
            return value.decode("latin-1")
    return uuid.uuid4().hex


class Draining:
    """The requests in flight, so that a process that must stop answers those that have not
    begun their response by then with a 503 to retry, rather than closing on them."""

    def __init__(self) -> None:
        self.unanswered: set[asyncio.Task[Any]] = set()
        self.cutting_off = False

    def cut_off(self) -> int:
        """Stops every request still waiting for its response; returns how many."""
        self.cutting_off = True
        for task in self.unanswered:
            task.cancel()
        return len(self.unanswered)


class RequestContextMiddleware:
    """Pure ASGI (no per-request task): sets the request id, echoes it, counts and times, and
    answers 503 for the requests that `Draining.cut_off` stopped."""

    def __init__(self, app: ASGIApp, component: str, draining: Draining) -> None:
        self.app = app
        self.component = component
        self.draining = draining

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        responding = False
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a request runs in a task")
        unanswered = self.draining.unanswered
        unanswered.add(task)

        async def send_with_id(message: Message) -> None:
            nonlocal status, responding
            if message["type"] == "http.response.start":
                status, responding = message["status"], True
                unanswered.discard(task)
                message["headers"] = [
                    *message.get("headers", ()), (REQUEST_ID_HEADER, request_id.encode("latin-1"))
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            if responding or not self.draining.cutting_off:
                raise
            task.uncancel()
            await problem_response(
                503, "The server is stopping; send the request again.", kind="stopping",
                headers={"Retry-After": str(RETRY_AFTER_STOPPING_SECONDS)},
            )(scope, receive, send_with_id)
        finally:
            unanswered.discard(task)
            method = scope["method"]
            REQUESTS.labels(self.component, method, str(status)).inc()
            LATENCY.labels(self.component, method).observe(time.perf_counter() - started)
            request_id_var.reset(token)


class SafeResponseHeaders:
    """Every response carries `headers` (by default `nosniff`, and `no-store`), each one
    unless the response sets that header itself (a Cache-Control of its own, say)."""

    def __init__(self, app: ASGIApp, headers: Sequence[tuple[bytes, bytes]] = SAFE_HEADERS) -> None:
        self.app = app
        self.headers = tuple(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_safely(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [header for header in self.headers if header[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_safely)


class NulFreeAddresses:
    """A path or query holding NUL (`%00`) is a 400: no resource or parameter has one, and
    PostgreSQL refuses it in text (a 500 further in)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"%00" in scope["query_string"]
            or b"\x00" in scope["query_string"]
        ):
            response = problem_response(
                400, "The address holds the NUL character (%00), which no path or parameter "
                "of this API has.", kind="nul-character",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class WaymarkApp(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        # Outside Starlette's error layer, so that its 500 answers carry the headers too.
        return SafeResponseHeaders(NulFreeAddresses(super().build_middleware_stack()))


def install_operations(app: FastAPI, checks: dict[str, ReadinessCheck]) -> None:
    """`/healthz` (alive), `/readyz` (every dependency answers), `/metrics` (Prometheus; a
    service's own port only, as the gateway passes on `/v1` alone)."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:  # readiness reports any failure
                results[name] = f"unavailable: {type(exc).__name__}"
        ready = all(value == "ok" for value in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return metrics_response()


def metrics_response() -> Response:
    """This process's Prometheus metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def create_base_app(
    component: str, *, title: str, lifespan: Lifespan, checks: dict[str, ReadinessCheck]
) -> FastAPI:
    app = WaymarkApp(
        title=title, version="0.1.0", lifespan=settled_after(lifespan), openapi_url="/openapi.json"
    )
    install_problem_handlers(app)
    install_operations(app, checks)
    app.state.draining = Draining()
    if tracing_enabled():  # started before the apps are built; off, not even a layer
        app.add_middleware(ServerSpans, component=component)  # inside the request context
    app.add_middleware(RequestContextMiddleware, component=component, draining=app.state.draining)
    return app


_collector_pauses = 0
_collector_lock = threading.Lock()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a bulk job builds millions of objects: each of
    its full passes over them held the GIL, and so every request of the process, for 0.5-1 s.
    Reference counting frees memory as usual; the collector runs again when the last such job
    ends."""
    global _collector_pauses  # noqa: PLW0603 -- one count for the process, under the lock
    with _collector_lock:
        _collector_pauses += 1
        gc.disable()
    try:
        yield
    finally:
        with _collector_lock:
            _collector_pauses -= 1
            if _collector_pauses == 0:
                gc.enable()


# How long a thread may hold the GIL while another waits (Python's default is 5 ms). The event
# loop gives the GIL up at every socket call and waited that long each time to get it back from
# a worker thread parsing an import: /healthz took 1.3 s during one, 7 ms with this.
GIL_SWITCH_SECONDS = 0.0005


def settled_after(lifespan: Lifespan) -> Lifespan:
    """`lifespan`, then what its start-up built frozen out of the garbage collector's full
    passes: it lives as long as the process, and scanning it stopped every request for
    100-400 ms now and then. The GIL is handed over sooner (GIL_SWITCH_SECONDS)."""

    @contextlib.asynccontextmanager
    async def settled(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            gc.collect()
            gc.freeze()
            sys.setswitchinterval(GIL_SWITCH_SECONDS)
            yield

    return settled
