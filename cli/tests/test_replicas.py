"""Two replicas of a part, as `waymark up --replicas 2` starts them, share its port: each of
them serves, and when one is killed the other goes on answering while the first is started
again."""

import asyncio
import base64
import os
import secrets
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.e2e.support import clean_up
from waymark_cli.parts import migrations_of
from waymark_cli.replicas import ReplicaSet, listening_socket
from waymark_kernel.migrations import upgrade
from waymark_kernel.settings import RunMode, Settings
from waymark_kernel.testing import POSTGRES_ADMIN_DSN, POSTGRES_URL, free_port_block

pytestmark = pytest.mark.integration  # starts replicas as processes

PART = "registry"
WAIT_SECONDS = 120  # how long a busy machine may take to start a replica


@pytest.fixture
async def registry_replicas(tmp_path: Path) -> AsyncIterator[tuple[ReplicaSet, str]]:
    unique = uuid.uuid4().hex[:10]
    prefix, exchange, queues = f"replicas_{unique}", f"replicas.{unique}.events", f"replicas.{unique}"
    environment = {
        **os.environ, "WAYMARK_MODE": "distributed", "WAYMARK_HOST": "127.0.0.1",
        "WAYMARK_POSTGRES_URL": POSTGRES_URL, "WAYMARK_DATABASE_PREFIX": prefix,
        "WAYMARK_EVENT_EXCHANGE": exchange, "WAYMARK_QUEUE_PREFIX": queues,
        "WAYMARK_DATA_DIR": str(tmp_path / "var"),
        "WAYMARK_ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    settings = Settings(_env_file=None, mode=RunMode.distributed, database_prefix=prefix)
    await create_named_database(f"{prefix}_{PART}")
    replicas = None
    try:
        await upgrade(settings.database_url(PART), migrations_of(PART), settings)
        port = free_port_block(1)
        replicas = ReplicaSet(PART, listening_socket("127.0.0.1", port), 2, environment, os.getpid())
        await replicas.start()
        replicas.supervise()
        yield replicas, f"http://127.0.0.1:{port}"
    finally:
        if replicas is not None:
            replicas.terminate()
            await replicas.wait(15)
            await replicas.kill_the_rest()
        await clean_up(prefix, exchange, queues)


async def create_named_database(name: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def answers(base_url: str) -> bool:
    """Whether a new connection to the part's port is answered (a replica that cannot accept
    leaves it waiting in the queue)."""
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            return (await client.get(f"{base_url}/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


async def answered_without(base_url: str, paused_pid: int) -> bool:
    """Whether the port is answered while the replica `paused_pid` cannot accept, i.e. by
    another replica; waits as long as a replica may take to start."""
    os.kill(paused_pid, signal.SIGSTOP)
    try:
        deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            if await answers(base_url):
                return True
            await asyncio.sleep(0.2)
        return False
    finally:
        os.kill(paused_pid, signal.SIGCONT)


async def test_two_replicas_share_a_port_and_one_killed_leaves_the_other_serving(
    registry_replicas: tuple[ReplicaSet, str],
) -> None:
    replicas, base_url = registry_replicas
    first, second = (replica.process.pid for replica in replicas.replicas)
    assert await answered_without(base_url, first)  # the second serves
    assert await answered_without(base_url, second)  # the first serves

    os.kill(first, signal.SIGKILL)
    assert [await answers(base_url) for _ in range(20)] == [True] * 20

    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while replicas.replicas[0].process.pid == first and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    restarted = replicas.replicas[0].process.pid
    assert restarted != first
    assert replicas.restarts == 1
    assert await answered_without(base_url, second)  # the started-again replica serves
    assert replicas.replicas[1].process.pid == second
    assert replicas.replicas[1].process.returncode is None
