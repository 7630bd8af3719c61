"""Starting the network as a user does (`waymark run`, `waymark up`) and receiving its webhooks."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import httpx

from waymark_kernel.testing import RABBITMQ_URL, drop_database, free_port_block

ADMIN_SECRET = "e2e-admin-secret-not-for-production"
PARTS = ("gateway", "registry", "referrals", "notifications")


@dataclass
class Network:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path
    data_dir: Path
    verb: str
    environment: dict[str, str]


def start(
    verb: str, tmp_path: Path, extra_env: dict[str, str], ready_within: float = 180.0
) -> Network:
    """The network ready within `ready_within` seconds (four parts importing at once on a busy
    machine take long); started again on other ports when a part lost its port to another
    process between the choice and the bind (the suite runs on several workers)."""
    for _ in range(3):
        try:
            return _start(verb, tmp_path, extra_env, ready_within)
        except PortTaken:
            continue
    raise RuntimeError(f"`waymark {verb}` found its ports taken three times")


class PortTaken(RuntimeError):
    pass


def _start(verb: str, tmp_path: Path, extra_env: dict[str, str], ready_within: float) -> Network:
    port = free_port_block(len(PARTS))
    log = tmp_path / f"waymark-{verb}.log"
    env = {
        **os.environ,
        "WAYMARK_PORT": str(port),
        "WAYMARK_HOST": "127.0.0.1",
        "WAYMARK_DATA_DIR": str(tmp_path / "var"),
        "WAYMARK_ADMIN_CLIENT_SECRET": ADMIN_SECRET,
        "WAYMARK_WEBHOOK_ALLOW_INSECURE": "true",
        "WAYMARK_WEBHOOK_RETRY_SCHEDULE": "0.2,0.5,1",
        **extra_env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "waymark_cli", verb], env=env, stdout=log.open("w"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    network = Network(f"http://127.0.0.1:{port}", process, log, tmp_path / "var", verb, env)
    deadline = time.monotonic() + ready_within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text()
            if "address already in use" in output:
                raise PortTaken(output[-4000:])
            raise RuntimeError(f"`waymark {verb}` exited:\n{output[-4000:]}")
        if _ready(network.base_url):
            return network
        time.sleep(0.3)
    stop(network)
    raise RuntimeError(f"`waymark {verb}` not ready:\n{log.read_text()[-4000:]}")


def restarted(network: Network, extra_env: dict[str, str]) -> Network:
    """The network stopped and started again on the same data, with `extra_env` added to its
    settings (a port of its own again)."""
    stop(network)
    kept = {name: value for name, value in network.environment.items() if name != "WAYMARK_PORT"}
    return start(network.verb, network.log.parent, {**kept, **extra_env})


@contextlib.contextmanager
def another_gateway(network: Network, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """One more gateway process of a distributed network (`waymark serve gateway`) on a port of
    its own: the same databases, keys and settings as the gateway `waymark up` started."""
    port = free_port_block(1)
    key = (network.data_dir / "encryption.key").read_text().strip()
    log = network.log.with_name(f"gateway-{port}.log")
    process = subprocess.Popen(
        [sys.executable, "-m", "waymark_cli", "serve", "gateway", "--host", "127.0.0.1",
         "--port", str(port)],
        env={**network.environment, "WAYMARK_ENCRYPTION_KEY": key, **(extra_env or {})},
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the other gateway did not start:\n{log.read_text()[-4000:]}")
            time.sleep(0.3)
        yield url
    finally:
        stop(Network(url, process, log, network.data_dir, "serve", network.environment))


def _ready(base_url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
    return False


def stop(network: Network) -> None:
    if network.process.poll() is None:
        os.killpg(network.process.pid, signal.SIGINT)
        try:
            network.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(network.process.pid, signal.SIGKILL)
            network.process.wait()


@contextlib.contextmanager
def network_of(verb: str, tmp_path: Path, extra_env: dict[str, str]) -> Iterator[Network]:
    """`waymark run` (standalone) or `waymark up` (distributed, on databases, an exchange and
    queues of its own, removed at the end), without demo data."""
    unique = uuid.uuid4().hex[:10]
    prefix, exchange, queues = f"e2e_{unique}", f"e2e.{unique}.events", f"e2e.{unique}"
    own = {
        "WAYMARK_DATABASE_PREFIX": prefix, "WAYMARK_EVENT_EXCHANGE": exchange,
        "WAYMARK_QUEUE_PREFIX": queues,
    } if verb == "up" else {}
    network = start(verb, tmp_path, {**own, "WAYMARK_SEED_DEMO": "false", **extra_env})
    try:
        yield network
    finally:
        stop(network)
        if verb == "up":
            asyncio.run(clean_up(prefix, exchange, queues))


async def clean_up(prefix: str, exchange: str, queues: str) -> None:
    for part in PARTS:
        await drop_database(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{prefix}_{part}")
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        for part in PARTS:
            for name in (f"{queues}.{part}", f"{queues}.{part}.dead"):
                await channel.queue_delete(name)
        await channel.exchange_delete(exchange)
        await channel.exchange_delete(f"{exchange}.dlx")


@dataclass
class WebhookReceiver:
    url: str
    status: int = 204  # the answer to every delivery
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived_at: list[float] = field(default_factory=list)  # the event loop's clock

    async def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)


