"""Distributed mode: each part its own process, each service on its own PostgreSQL
database, events over RabbitMQ."""

import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path

import httpx
import uvicorn
from waymark_gateway.main import create_app as create_gateway
from waymark_gateway.server import SERVER_OPTIONS
from waymark_kernel.files import make_data_folder_private
from waymark_kernel.migrations import upgrade
from waymark_kernel.settings import DEVELOPMENT_ADMIN_SECRET, Settings

from waymark_cli import demo
from waymark_cli.parts import (
    PARTS, create_service, migrations_of, pages_of, port_of, with_local_keys,
)
from waymark_cli.serving import GracefulServer
from waymark_cli.stopping import STOP_SECONDS, StopRequest
from waymark_cli.standalone import banner

log = logging.getLogger("waymark.up")


async def migrate(settings: Settings, parts: list[str]) -> list[str]:
    for part in parts:
        await upgrade(settings.database_url(part), migrations_of(part), settings)
        log.debug("migrated", extra={"part": part})
    return parts


def serve(
    settings: Settings, part: str, host: str | None, port: int | None, stop: StopRequest,
    parent_pid: int | None = None,
) -> None:
    if part == "gateway":
        app = create_gateway(settings, pages=pages_of(settings))
    else:
        app = create_service(part, settings)
    options = SERVER_OPTIONS if part == "gateway" else {"http": "httptools"}
    GracefulServer(uvicorn.Config(
        app, host=host or settings.host, port=port or port_of(part, settings), log_config=None,
        access_log=False, loop="uvloop", **options,
    ), stop, app.state.draining, parent_pid=parent_pid).run()


async def up(settings: Settings, stop: StopRequest) -> None:
    """Every part as a child process on this machine, until a stop is asked for."""
    environment = {**os.environ, "WAYMARK_MODE": "distributed"}
    if not settings.admin_client_secret:
        print("WARNING: WAYMARK_ADMIN_CLIENT_SECRET is not set; `up` uses the documented "
              "DEVELOPMENT secret. Never do this outside your own machine.", flush=True)
        environment["WAYMARK_ADMIN_CLIENT_SECRET"] = DEVELOPMENT_ADMIN_SECRET
    make_data_folder_private(settings.data_dir)  # keys and demo credentials
    settings = with_local_keys(settings.model_copy(update={
        "admin_client_secret": environment["WAYMARK_ADMIN_CLIENT_SECRET"]}))
    environment["WAYMARK_ENCRYPTION_KEY"] = settings.encryption_key
    if not await stop.unless_requested(lambda: migrate(settings, list(PARTS))):
        return
    # Each in a process group of its own, out of reach of a terminal's Ctrl-C: `up` stops the
    # gateway first, so that the requests it is still answering find the services up.
    children = {
        part: await asyncio.create_subprocess_exec(
            sys.executable, "-m", "waymark_cli", "serve", part, "--parent-pid", str(os.getpid()),
            env=environment, process_group=0,
        )
        for part in PARTS
    }
    try:
        if not await _wait_ready(settings, list(children.values()), stop):
            return
        credentials_file = settings.data_dir / "demo-credentials.json"
        if demo.should_seed(settings) and not await stop.unless_requested(
            lambda: _seed(settings, credentials_file)
        ):
            return
        print(banner(settings, credentials_file), flush=True)
        exited = [asyncio.ensure_future(child.wait()) for child in children.values()]
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([stopping, *exited], return_when=asyncio.FIRST_COMPLETED)
        for waiter in (stopping, *exited):
            waiter.cancel()
        if not stop.requested:
            raise SystemExit("a part of the network exited; stopping the others")
    finally:
        await _stop_children(children)
    log.info("stopped")


async def _seed(settings: Settings, credentials_file: Path) -> None:
    async with httpx.AsyncClient(base_url=settings.gateway_url, timeout=30) as client:
        await demo.seed(client, settings.admin_secret, credentials_file)


async def _stop_children(children: dict[str, asyncio.subprocess.Process]) -> None:
    """The gateway first, then the services; a part still running when the promised time is
    nearly up is killed, so that none outlives the network."""
    deadline = asyncio.get_running_loop().time() + STOP_SECONDS - 1
    gateway = {part: child for part, child in children.items() if part == "gateway"}
    services = {part: child for part, child in children.items() if part != "gateway"}
    for group in (gateway, services):
        for child in group.values():
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.terminate()
        await asyncio.wait(
            [asyncio.ensure_future(child.wait()) for child in group.values()],
            timeout=max(0.0, deadline - asyncio.get_running_loop().time()),
        )
    for part, child in children.items():
        if child.returncode is None:
            log.error("a part did not stop in time; killed", extra={"part": part})
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()


async def _wait_ready(
    settings: Settings, children: list[asyncio.subprocess.Process], stop: StopRequest,
    timeout: float = 180,  # a busy machine imports four processes at once
) -> bool:
    """True once the gateway is ready; False when a stop is asked for first."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while asyncio.get_running_loop().time() < deadline:
            if stop.requested:
                return False
            if any(child.returncode is not None for child in children):
                raise SystemExit("a part of the network exited during start-up")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{settings.gateway_url}/readyz")).status_code == 200:
                    return True
            await asyncio.sleep(0.25)
    raise SystemExit("the network did not become ready in time")
