"""`make run` and `make up` typed at a terminal, in a job-control shell, as a person does: Ctrl-C
stops the network and make with it, with status 0, no error and no process left behind; Ctrl-Z
and `fg` work as for any job."""

import collections
import contextlib
import os
import pty
import re
import select
import signal
import time
from pathlib import Path

import httpx
import pytest

from cli.tests.support import STOP_SECONDS
from tests.e2e.support import ADMIN_SECRET, PARTS
from waymark_kernel.testing import free_port_block

pytestmark = pytest.mark.integration  # starts a shell, make and the network

ROOT = Path(__file__).resolve().parents[2]  # where the Makefile is
READY_SECONDS = 150  # the test machine may be busy
# The shell's prompt shows the exit status of the command before it.
PROMPT = re.compile(rb"status=(\d+)> ")
# A log record at a terminal: `12:04:05 INFO    waymark.stop  stopping: ...`
LOG_RECORD = re.compile(rb"\d\d:\d\d:\d\d \S*(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)")
# make's report of an interrupted or failed recipe, a traceback, a record at error level.
PROBLEMS = re.compile(r"Interrupt|Error|Traceback|make: \*\*\*|\bERROR\b|\bCRITICAL\b")


class Terminal:
    """An interactive bash in a pseudo-terminal: what is typed, and all it shows."""

    def __init__(self, env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a session of its own with the terminal as its own
            os.chdir(ROOT)
            os.execvpe("bash", ["bash", "--norc", "--noprofile", "-i"], env)  # noqa: S606 -- a person's shell
        self.shown = b""

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def wait_for(self, pattern: re.Pattern[bytes], after: int, seconds: float) -> re.Match[bytes]:
        """The first match of `pattern` in what the terminal shows from offset `after` on."""
        deadline = time.monotonic() + seconds
        while (found := pattern.search(self.shown, after)) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"not shown in {seconds} s:\n{self.text[-3000:]}")
            if select.select([self.fd], [], [], min(left, 0.2))[0]:
                self.shown += os.read(self.fd, 65536)
        return found

    @property
    def text(self) -> str:
        return self.shown.decode(errors="replace")

    def close(self) -> None:
        """The shell and whatever is still running in it end with the terminal."""
        os.close(self.fd)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def descendants(pid: int) -> set[int]:
    """Every living process under `pid`, from /proc."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces; the fields after its closing parenthesis do not.
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            children[int(parent)].append(int(entry))
    found, frontier = set(), [pid]
    while frontier:
        for child in children[frontier.pop()]:
            found.add(child)
            frontier.append(child)
    return found


def serving_parts(pids: set[int]) -> int:
    """How many of `pids` are parts started by `waymark up`."""
    count = 0
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        count += b"serve" in command
    return count


def ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("verb", ["run", "up"])
def test_ctrl_c_at_a_terminal_stops_make_with_status_0_and_no_error(
    verb: str, tmp_path: Path, network_names: tuple[str, str, str]
) -> None:
    prefix, exchange, queues = network_names
    port = free_port_block(len(PARTS))
    terminal = Terminal({
        **os.environ, "PS1": "status=$?> ", "WAYMARK_HOST": "127.0.0.1", "WAYMARK_PORT": str(port),
        "WAYMARK_DATA_DIR": str(tmp_path / "var"), "WAYMARK_ADMIN_CLIENT_SECRET": ADMIN_SECRET,
        "WAYMARK_SEED_DEMO": "false", "WAYMARK_DATABASE_PREFIX": prefix,
        "WAYMARK_EVENT_EXCHANGE": exchange, "WAYMARK_QUEUE_PREFIX": queues,
    })
    try:
        started = terminal.wait_for(PROMPT, 0, 30).end()
        terminal.type(f"make {verb}\n".encode())
        banner = terminal.wait_for(re.compile(rb"Press Ctrl-C to stop\."), started, READY_SECONDS)
        # The start-up's records are debug noise: nothing but the banner for a person to read.
        assert LOG_RECORD.findall(terminal.shown[started:banner.start()]) == [], terminal.text

        terminal.type(b"\x1a")  # Ctrl-Z: the shell has the job stopped and gets the terminal
        suspended = terminal.wait_for(re.compile(rb"Stopped\s+make " + verb.encode()), banner.end(), 10)
        terminal.type(b"fg\n")  # the shell names the job it continues
        resumed = terminal.wait_for(re.compile(rb"fg\r\n.*make " + verb.encode(), re.DOTALL), suspended.end(), 10)
        deadline = time.monotonic() + 10
        while not ready(f"http://127.0.0.1:{port}") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready(f"http://127.0.0.1:{port}"), terminal.text[-3000:]

        started_processes = descendants(terminal.pid)  # make, uv, waymark and what it started
        assert serving_parts(started_processes) == (len(PARTS) if verb == "up" else 0)

        interrupted_at = time.monotonic()
        terminal.type(b"\x03")  # Ctrl-C
        status = terminal.wait_for(PROMPT, resumed.end(), STOP_SECONDS + 5)
        took = time.monotonic() - interrupted_at

        shown = terminal.text
        assert status.group(1) == b"0", shown[-3000:]  # make's exit status
        assert took < STOP_SECONDS, shown[-3000:]
        assert PROBLEMS.findall(shown) == [], shown[-3000:]
        assert descendants(terminal.pid) == set()
        assert not ready(f"http://127.0.0.1:{port}")
    finally:
        left = descendants(terminal.pid)
        terminal.close()
        for pid in left:  # parts of their own process groups outlive a killed shell
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
