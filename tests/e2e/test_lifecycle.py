"""Ctrl-C stops every part cleanly, in both modes."""

import os
import signal
import socket
import uuid
from pathlib import Path

import pytest

from tests.e2e.support import PARTS, clean_up, start

pytestmark = pytest.mark.integration  # starts networks of processes


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("verb", ["run", "up"])
async def test_interrupt_stops_every_part(verb: str, tmp_path: Path) -> None:
    unique = uuid.uuid4().hex[:10]
    names = (f"life_{unique}", f"life.{unique}.events", f"life.{unique}")
    network = start(verb, tmp_path, {
        "WAYMARK_SEED_DEMO": "false", "WAYMARK_DATABASE_PREFIX": names[0],
        "WAYMARK_EVENT_EXCHANGE": names[1], "WAYMARK_QUEUE_PREFIX": names[2],
    })
    base_port = int(network.base_url.rsplit(":", 1)[1])
    try:
        os.killpg(network.process.pid, signal.SIGINT)
        assert network.process.wait(timeout=30) == 0, network.log.read_text()[-3000:]
        ports = range(base_port, base_port + (len(PARTS) if verb == "up" else 1))
        assert all(port_is_free(port) for port in ports)
    finally:
        if network.process.poll() is None:
            os.killpg(network.process.pid, signal.SIGKILL)
        if verb == "up":
            await clean_up(*names)
