"""Distributed mode: each part its own process, each service on its own PostgreSQL
database, events over RabbitMQ."""

import asyncio
import contextlib
import logging
import os
from pathlib import Path

import httpx

from waymark_cli import demo
from waymark_cli.parts import PARTS, migrations_of, port_of, with_local_keys
from waymark_cli.replicas import ReplicaSet, listening_socket
from waymark_cli.stopping import STOP_SECONDS, StopRequest
from waymark_kernel.files import make_data_folder_private
from waymark_kernel.migrations import upgrade
from waymark_kernel.settings import DEVELOPMENT_ADMIN_SECRET, Settings

log = logging.getLogger("waymark.up")


async def migrate(settings: Settings, parts: list[str]) -> list[str]:
    for part in parts:
        await upgrade(settings.database_url(part), migrations_of(part), settings)
        log.debug("migrated", extra={"part": part})
    return parts


async def up(settings: Settings, stop: StopRequest) -> None:
    """Every part as `settings.replicas` child processes on this machine, until a stop is
    asked for; a replica that dies is started again."""
    environment = {**os.environ, "WAYMARK_MODE": "distributed"}
    if not settings.admin_client_secret:
        print("WARNING: WAYMARK_ADMIN_CLIENT_SECRET is not set; `up` uses the documented "
              "DEVELOPMENT secret. Never do this outside your own machine.", flush=True)
        environment["WAYMARK_ADMIN_CLIENT_SECRET"] = DEVELOPMENT_ADMIN_SECRET
    make_data_folder_private(settings.data_dir)  # keys and demo credentials
    settings = with_local_keys(settings.model_copy(update={
        "admin_client_secret": environment["WAYMARK_ADMIN_CLIENT_SECRET"]}))
    if settings.encryption_key is None:
        raise RuntimeError("with_local_keys gives every setting a key")
    environment["WAYMARK_ENCRYPTION_KEY"] = settings.encryption_key
    if not await stop.unless_requested(lambda: migrate(settings, list(PARTS))):
        return
    parts = {
        part: ReplicaSet(
            part, listening_socket(settings.host, port_of(part, settings)), settings.replicas,
            environment, os.getpid(),
        )
        for part in PARTS
    }
    try:
        for replicas in parts.values():
            await replicas.start()
        if not await _wait_ready(settings, parts, stop):
            return
        credentials_file = settings.data_dir / "demo-credentials.json"
        if demo.should_seed(settings) and not await stop.unless_requested(
            lambda: _seed(settings, credentials_file)
        ):
            return
        for replicas in parts.values():
            replicas.supervise()
        print(demo.banner(settings, credentials_file), flush=True)
        await stop.wait()
    finally:
        await stop_replicas(parts)
    log.info("stopped")


async def _seed(settings: Settings, credentials_file: Path) -> None:
    async with httpx.AsyncClient(base_url=settings.gateway_url, timeout=30) as client:
        await demo.seed(client, settings.admin_secret, credentials_file)


async def stop_replicas(parts: dict[str, ReplicaSet]) -> None:
    """The gateway first, then the services; a replica still running when the promised time
    is nearly up is killed, so that none outlives the network."""
    deadline = asyncio.get_running_loop().time() + STOP_SECONDS - 1
    gateway = [replicas for part, replicas in parts.items() if part == "gateway"]
    services = [replicas for part, replicas in parts.items() if part != "gateway"]
    for group in (gateway, services):
        for replicas in group:
            replicas.terminate()
        for replicas in group:
            await replicas.wait(deadline - asyncio.get_running_loop().time())
    for replicas in parts.values():
        await replicas.kill_the_rest()


async def _wait_ready(
    settings: Settings, parts: dict[str, ReplicaSet], stop: StopRequest,
    seconds_per_process: float = 45,  # a busy machine imports every process at once
) -> bool:
    """True once the gateway is ready; False when a stop is asked for first. A replica that
    exits during start-up stops the network."""
    started = sum(len(replicas.processes) for replicas in parts.values())
    deadline = asyncio.get_running_loop().time() + seconds_per_process * started
    async with httpx.AsyncClient(timeout=2) as client:
        while asyncio.get_running_loop().time() < deadline:
            if stop.requested:
                return False
            processes = [process for replicas in parts.values() for process in replicas.processes]
            if any(process.returncode is not None for process in processes):
                raise SystemExit("a part of the network exited during start-up")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{settings.gateway_url}/readyz")).status_code == 200:
                    return True
            await asyncio.sleep(0.25)
    raise SystemExit("the network did not become ready in time")
