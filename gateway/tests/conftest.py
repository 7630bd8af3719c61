"""A real gateway over httpx's ASGI transport, in front of stand-in services served by uvicorn
on loopback ports; the gateway reaches them with its real HTTP upstreams."""

import asyncio
import base64
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import httpx
import pytest
import redis.asyncio as redis
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import create_model

from waymark_gateway.main import MIGRATIONS, Upstream, create_app
from waymark_gateway.settings import GatewaySettings
from waymark_kernel.settings import RunMode
from waymark_kernel.signing import SigningKey
from waymark_kernel.testing import free_port, shared_database

TESTS = Path(__file__).parent


def wait_until_listening(
    port: int, process: subprocess.Popen[bytes], timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process ended with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextlib.contextmanager
def uvicorn_process(
    target: str, port: int, *, env: dict[str, str] | None = None, factory: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
        "--app-dir", str(TESTS), "--log-level", "warning",
    ]
    if factory:
        command.append("--factory")
    process = subprocess.Popen(command, env={**os.environ, **(env or {})})
    try:
        wait_until_listening(port, process)
        yield process
    finally:
        process.kill()
        process.wait()


ADMIN_SECRET = "gateway-test-admin-secret"
ENCRYPTION_KEY = base64.b64encode(b"gateway tests' encryption key 32").decode()
KNOWN_ORGANIZATION = uuid.UUID("6f1c2a52-6a4e-4f57-9a53-2f4c1f0e5a01")
OTHER_ORGANIZATION = uuid.UUID("0b7e4c3a-1d2e-4f5a-8b9c-0d1e2f3a4b5c")


@dataclass
class Call:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    client_port: int


def standin_service(name: str) -> FastAPI:
    """A service stand-in: a documented `/v1` route, a schema name every stand-in shares with
    its own content, and an echo of every other `/v1` call it receives."""
    fields: dict[str, Any] = {"id": (uuid.UUID, ...), f"{name}_field": (str, ...)}
    item = create_model("Item", **fields)
    app = FastAPI(title=f"{name} stand-in")
    app.state.calls = []

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/internal/debug")
    async def internal() -> dict[str, str]:
        return {}

    @app.get(f"/v1/{name}-items/{{item_id}}", response_model=item)
    async def get_item(item_id: uuid.UUID) -> Any:
        return {"id": item_id, f"{name}_field": name}

    @app.get("/v1/organizations/{organization_id}")
    async def organization(organization_id: uuid.UUID, request: Request) -> JSONResponse:
        app.state.calls.append(await _call(request))
        if organization_id in (KNOWN_ORGANIZATION, OTHER_ORGANIZATION):
            return JSONResponse({"id": str(organization_id)})
        return JSONResponse({"status": 404}, status_code=404)

    @app.api_route(
        "/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"],
        include_in_schema=False,
    )
    async def echo(rest: str, request: Request) -> Response:
        call = await _call(request)
        app.state.calls.append(call)
        if rest.endswith("slow"):
            for _ in range(50):  # until the gateway gives up and hangs up
                if await request.is_disconnected():
                    break
                await asyncio.sleep(0.1)
        if rest.endswith("stream"):
            return StreamingResponse(
                (f"part {number};".encode() for number in range(3)), media_type="text/plain"
            )
        if rest.endswith("broken"):
            raise RuntimeError("the stand-in breaks on purpose")
        return JSONResponse(
            {"service": name, "method": call.method, "path": call.path, "query": call.query,
             "body_size": len(call.body)},
            status_code=201 if call.method == "POST" else 200,
            headers={"set-cookie": "session=stand-in", "x-stand-in": name},
        )

    return app


async def _call(request: Request) -> Call:
    return Call(
        request.method, request.url.path, request.url.query, dict(request.headers),
        await request.body(), request.client.port if request.client else 0,
    )


@contextlib.asynccontextmanager
async def serving(app: FastAPI, port: int = 0, **options: Any) -> AsyncIterator[str]:
    """`app` served by uvicorn on loopback (`options` for its configuration) until the end."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(
        app, log_config=None, lifespan="off", timeout_graceful_shutdown=5, **options,
    ))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        listener.close()


@pytest.fixture(scope="session")
def database_url(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The gateway's database, one per dialect for the run: each test on SQLite and PostgreSQL."""
    folder = tmp_path_factory.mktemp("gateway")
    with shared_database(dialect, "waymark_gateway_test", folder, MIGRATIONS) as url:
        yield url


@dataclass
class Gateway:
    admin_secret: ClassVar[str] = ADMIN_SECRET
    known_organization: ClassVar[uuid.UUID] = KNOWN_ORGANIZATION
    other_organization: ClassVar[uuid.UUID] = OTHER_ORGANIZATION

    client: httpx.AsyncClient
    app: FastAPI

    @property
    def signing_key(self) -> SigningKey:
        key: SigningKey = self.app.state.issuer.signing_key
        return key

    def token(self, organization_id: uuid.UUID | None, *roles: str, ttl_seconds: int = 300) -> str:
        return self.signing_key.issue(
            subject=f"test-{uuid.uuid4().hex[:8]}", organization_id=organization_id,
            roles=list(roles), issuer="waymark", audience="waymark-api", ttl_seconds=ttl_seconds,
        )

    def headers(self, organization_id: uuid.UUID | None, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(organization_id, *roles)}"}


@dataclass
class Network(Gateway):
    registry: FastAPI
    referrals: FastAPI
    notifications_port: int


# `standin(name)`: a stand-in service application
Standin = Callable[[str], FastAPI]


class StartGateway(Protocol):
    """`async with start_gateway(upstreams=..., **settings) as gateway:`"""

    def __call__(
        self, *, upstreams: dict[str, Upstream] | None = None,
        signing_key: SigningKey | None = None, **settings: Any,
    ) -> contextlib.AbstractAsyncContextManager[Gateway]: ...


class Serve(Protocol):
    """`async with serve(app, port, **options) as url:` uvicorn serving `app` on loopback."""

    def __call__(
        self, app: FastAPI, port: int = 0, **options: Any
    ) -> contextlib.AbstractAsyncContextManager[str]: ...


class StartProcess(Protocol):
    """`with process(target, port, env=..., factory=...):` uvicorn in a process of its own."""

    def __call__(
        self, target: str, port: int, *, env: dict[str, str] | None = None, factory: bool = False
    ) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]: ...


@pytest.fixture
def start_gateway(database_url: str, tmp_path: Path) -> StartGateway:
    """`async with start_gateway(upstreams=..., **settings) as gateway:` a gateway of its own."""

    @contextlib.asynccontextmanager
    async def start(
        *, upstreams: dict[str, Upstream] | None = None, signing_key: SigningKey | None = None,
        **settings: Any,
    ) -> AsyncIterator[Gateway]:
        app = create_app(
            GatewaySettings(
                mode=RunMode.distributed, gateway_database_url=database_url, data_dir=tmp_path,
                **{"admin_client_secret": ADMIN_SECRET, "upstream_timeout_seconds": 1.0,
                   "encryption_key": ENCRYPTION_KEY, **settings},
            ),
            upstreams=upstreams, signing_key=signing_key or SigningKey.generate(),
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app, client=("203.0.113.7", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                yield Gateway(client, app)

    return start


@pytest.fixture
async def network(start_gateway: StartGateway) -> AsyncIterator[Network]:
    """Registry and referrals stand-ins up, notifications down; upstreams from the settings."""
    registry, referrals = standin_service("registry"), standin_service("referrals")
    notifications_port = free_port()
    async with (
        serving(registry) as registry_url,
        serving(referrals) as referrals_url,
        start_gateway(
            registry_url=registry_url, referrals_url=referrals_url,
            notifications_url=f"http://127.0.0.1:{notifications_port}",
        ) as gateway,
    ):
        yield Network(
            gateway.client, gateway.app, registry, referrals, notifications_port
        )


REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are removed afterwards."""
    prefix = f"waymark-test:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(REDIS_URL)
    await client.ping()  # no Redis: the test fails here, it is never skipped
    yield prefix
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def encryption_key() -> str:
    return ENCRYPTION_KEY


@pytest.fixture
def standin() -> Standin:
    """`standin(name)`: a stand-in service application, and `serving(app, port)` to serve it."""
    return standin_service


@pytest.fixture
def serve() -> Serve:
    return serving


@pytest.fixture
def unused_port() -> int:
    return free_port()


@pytest.fixture
def process() -> StartProcess:
    """`with process(target, port, env=..., factory=...):` uvicorn serving it in its own process."""
    return uvicorn_process
