"""What every Waymark HTTP process shares: request ids, metrics, health and readiness, and a
heap settled after start-up."""

import contextlib
import gc
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from waymark_kernel.logging import request_id_var
from waymark_kernel.problems import install_problem_handlers

REQUEST_ID_HEADER = b"x-request-id"
REQUESTS = Counter(
    "waymark_http_requests_total", "HTTP requests answered", ["component", "method", "status"]
)
LATENCY = Histogram(
    "waymark_http_request_duration_seconds", "HTTP request latency", ["component", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

ReadinessCheck = Callable[[], Awaitable[None]]


def incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER and 0 < len(value) <= 128:
            return value.decode("latin-1")
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Pure ASGI (no per-request task): sets the request id, echoes it, counts and times."""

    def __init__(self, app: ASGIApp, component: str) -> None:
        self.app = app
        self.component = component

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()), (REQUEST_ID_HEADER, request_id.encode("latin-1"))
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            method = scope["method"]
            REQUESTS.labels(self.component, method, str(status)).inc()
            LATENCY.labels(self.component, method).observe(time.perf_counter() - started)
            request_id_var.reset(token)


def install_operations(app: FastAPI, checks: dict[str, ReadinessCheck]) -> None:
    """`/healthz` (alive), `/readyz` (every dependency answers), `/metrics` (Prometheus)."""

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
            except Exception as exc:  # noqa: BLE001 - readiness reports any failure
                results[name] = f"unavailable: {type(exc).__name__}"
        ready = all(value == "ok" for value in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def create_base_app(component: str, *, title: str, lifespan, checks: dict[str, ReadinessCheck]) -> FastAPI:
    app = FastAPI(
        title=title, version="0.1.0", lifespan=settled_after(lifespan), openapi_url="/openapi.json"
    )
    install_problem_handlers(app)
    install_operations(app, checks)
    app.add_middleware(RequestContextMiddleware, component=component)
    return app


_collector_pauses = 0
_collector_lock = threading.Lock()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a bulk job builds millions of objects: each of
    its full passes over them held the GIL, and so every request of the process, for 0.5-1 s.
    Reference counting frees memory as usual; the collector runs again when the last such job
    ends."""
    global _collector_pauses
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


def settled_after(lifespan):
    """`lifespan`, then what its start-up built frozen out of the garbage collector's full
    passes: it lives as long as the process, and scanning it stopped every request for
    100-400 ms now and then."""

    @contextlib.asynccontextmanager
    async def settled(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            gc.collect()
            gc.freeze()
            yield

    return settled
