"""The `waymark` command started as a person starts it in a terminal, and stopped with Ctrl-C
(SIGINT to its process group)."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.support import ADMIN_SECRET, PARTS
from waymark_kernel.testing import free_port_block

STOP_SECONDS = 10  # the promise: Ctrl-C, and the network is gone within this


@dataclass
class Launched:
    process: subprocess.Popen[bytes]
    base_url: str
    output: Path  # stdout and stderr, in the order they were written

    def interrupt(self) -> float:
        """Ctrl-C; returns how long the command took to exit (at most STOP_SECONDS + 5)."""
        started = time.monotonic()
        os.killpg(self.process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_SECONDS + 5)
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def launch(verb: str, data_dir: Path, extra_env: dict[str, str], port: int | None = None) -> Launched:
    port = port or free_port_block(len(PARTS))
    output = data_dir.parent / f"waymark-{verb}-{time.monotonic_ns()}.log"
    env = {
        **os.environ,
        "WAYMARK_HOST": "127.0.0.1", "WAYMARK_PORT": str(port), "WAYMARK_DATA_DIR": str(data_dir),
        "WAYMARK_ADMIN_CLIENT_SECRET": ADMIN_SECRET, "WAYMARK_SEED_DEMO": "false",
        "WAYMARK_RATE_LIMIT": "100000/minute", **extra_env,
    }
    with output.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "waymark_cli", verb], env=env, stdout=sink,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    launched = Launched(process, f"http://127.0.0.1:{port}", output)
    deadline = time.monotonic() + 150  # the test machine may be busy
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"`waymark {verb}` exited:\n{output.read_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{launched.base_url}/readyz", timeout=2).status_code == 200:
                return launched
        time.sleep(0.3)
    launched.kill()
    raise RuntimeError(f"`waymark {verb}` not ready:\n{output.read_text()[-4000:]}")


def problems_in(output: str) -> list[str]:
    """Lines that tell of a failure: a traceback, or a record at error level or above."""
    return [
        line for line in output.splitlines()
        if "Traceback" in line or '"level":"error"' in line or '"level":"critical"' in line
        or "KeyboardInterrupt" in line or "CancelledError" in line
    ]
