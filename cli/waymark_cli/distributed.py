"""Distributed mode: each part its own process, each service on its own PostgreSQL
database, events over RabbitMQ."""

import asyncio
import contextlib
import os
import signal
import sys

import httpx
import uvicorn
from waymark_gateway.main import create_app as create_gateway
from waymark_gateway.server import SERVER_OPTIONS
from waymark_kernel.migrations import upgrade
from waymark_kernel.settings import DEVELOPMENT_ADMIN_SECRET, Settings

from waymark_cli import demo
from waymark_cli.parts import (
    PARTS, create_service, migrations_of, pages_of, port_of, with_local_keys,
)
from waymark_cli.serving import GracefulServer
from waymark_cli.standalone import banner


async def migrate(settings: Settings, parts: list[str]) -> None:
    for part in parts:
        await upgrade(settings.database_url(part), migrations_of(part))
        print(f"migrated {part}", flush=True)


def serve(settings: Settings, part: str, host: str | None, port: int | None) -> None:
    if part == "gateway":
        app = create_gateway(settings, pages=pages_of(settings))
    else:
        app = create_service(part, settings)
    options = SERVER_OPTIONS if part == "gateway" else {"http": "httptools"}
    GracefulServer(uvicorn.Config(
        app, host=host or settings.host, port=port or port_of(part, settings), log_config=None,
        access_log=False, loop="uvloop", **options,
    )).run()


async def up(settings: Settings) -> None:
    """Every part as a child process on this machine, until interrupted."""
    environment = {**os.environ, "WAYMARK_MODE": "distributed"}
    if not settings.admin_client_secret:
        print("WARNING: WAYMARK_ADMIN_CLIENT_SECRET is not set; `up` uses the documented "
              "DEVELOPMENT secret. Never do this outside your own machine.", flush=True)
        environment["WAYMARK_ADMIN_CLIENT_SECRET"] = DEVELOPMENT_ADMIN_SECRET
    settings = with_local_keys(settings.model_copy(update={
        "admin_client_secret": environment["WAYMARK_ADMIN_CLIENT_SECRET"]}))
    environment["WAYMARK_ENCRYPTION_KEY"] = settings.encryption_key
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await migrate(settings, list(PARTS))
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "waymark_cli", "serve", part, env=environment
        )
        for part in PARTS
    ]
    try:
        if not await _wait_ready(settings, children, stop):
            return
        if demo.should_seed(settings):
            async with httpx.AsyncClient(base_url=settings.gateway_url, timeout=30) as client:
                await demo.seed(client, settings.admin_secret, settings.data_dir / "demo-credentials.json")
        print(banner(settings, settings.data_dir / "demo-credentials.json"), flush=True)
        waiters = [asyncio.create_task(child.wait()) for child in children]
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([stopped, *waiters], return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            raise SystemExit("a part of the network exited; stopping the others")
    finally:
        for child in children:
            if child.returncode is None:
                child.terminate()
        for child in children:
            try:
                await asyncio.wait_for(child.wait(), timeout=15)
            except TimeoutError:  # a part stuck in its shutdown must not outlive the network
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()


async def _wait_ready(settings: Settings, children, stop: asyncio.Event, timeout: float = 60) -> bool:
    """True once the gateway is ready; False when interrupted first."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while asyncio.get_running_loop().time() < deadline:
            # A part that exits cleanly was interrupted with us (same process group).
            if stop.is_set() or any(child.returncode == 0 for child in children):
                return False
            if any(child.returncode is not None for child in children):
                raise SystemExit("a part of the network exited during start-up")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{settings.gateway_url}/readyz")).status_code == 200:
                    return True
            await asyncio.sleep(0.25)
    raise SystemExit("the network did not become ready in time")
