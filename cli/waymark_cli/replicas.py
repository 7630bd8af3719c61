"""Several processes of one part on one port: the launcher binds each part's listening socket
once and hands it to every replica, which accept from its one queue. A replica that dies loses
only the connections it had accepted; the others go on accepting, and the launcher starts it
again on the same socket, so the gateway's upstream addresses never change."""

import asyncio
import contextlib
import errno
import logging
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger("waymark.up")
BACKLOG = 2048
# A replica that dies within STEADY_SECONDS of its start waits before the next start, doubling
# from FIRST_DELAY_SECONDS up to MAX_DELAY_SECONDS; one that ran longer is started at once.
STEADY_SECONDS = 30.0
FIRST_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 10.0


def listening_socket(host: str, port: int) -> socket.socket:
    """The part's socket, bound and listening, inherited by its replicas. SO_REUSEPORT lets a
    process started by hand (`waymark serve`) join the same port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise SystemExit(f"cannot listen on {host}:{port}: address already in use") from exc
        raise
    listener.listen(BACKLOG)
    listener.set_inheritable(True)
    return listener


@dataclass
class Replica:
    part: str
    index: int
    process: asyncio.subprocess.Process
    started_at: float
    delay: float = FIRST_DELAY_SECONDS


@dataclass
class ReplicaSet:
    """`count` processes of `part` serving on `listener`, each started again when it dies
    (until `stop`); `restarts` counts those starts again."""

    part: str
    listener: socket.socket
    count: int
    environment: Mapping[str, str]
    parent_pid: int
    replicas: list[Replica] = field(default_factory=list)
    restarts: int = 0
    stopping: bool = False
    _watchers: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        for index in range(self.count):
            self.replicas.append(await self._spawn(index))

    def supervise(self) -> None:
        """From now on, a replica that exits is started again."""
        self._watchers = [
            asyncio.ensure_future(self._watch(index)) for index in range(len(self.replicas))
        ]

    @property
    def processes(self) -> list[asyncio.subprocess.Process]:
        return [replica.process for replica in self.replicas]

    async def _spawn(self, index: int) -> Replica:
        # A process group of its own, out of reach of a terminal's Ctrl-C: the launcher stops
        # the gateway first, so that the requests it is still answering find the services up.
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "waymark_cli", "serve", self.part,
            "--fd", str(self.listener.fileno()), "--parent-pid", str(self.parent_pid),
            env=dict(self.environment), process_group=0, pass_fds=(self.listener.fileno(),),
        )
        return Replica(self.part, index, process, asyncio.get_running_loop().time())

    async def _watch(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        while True:
            replica = self.replicas[index]
            status = await replica.process.wait()
            if self.stopping:
                return
            ran = loop.time() - replica.started_at
            steady = ran >= STEADY_SECONDS
            delay = 0.0 if steady else replica.delay
            log.warning("a replica exited; starting it again", extra={
                "part": self.part, "replica": index, "pid": replica.process.pid,
                "status": status, "ran_seconds": round(ran, 1), "delay_seconds": delay,
            })
            await asyncio.sleep(delay)
            if self.stopping:
                return
            restarted = await self._spawn(index)
            restarted.delay = FIRST_DELAY_SECONDS if steady else min(MAX_DELAY_SECONDS, delay * 2)
            self.replicas[index] = restarted
            self.restarts += 1

    def terminate(self) -> None:
        self.stopping = True
        for watcher in self._watchers:
            watcher.cancel()
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()

    async def wait(self, timeout: float) -> None:
        waiters = [asyncio.ensure_future(process.wait()) for process in self.processes]
        await asyncio.wait(waiters, timeout=max(0.0, timeout))
        for waiter in waiters:
            waiter.cancel()

    async def kill_the_rest(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                log.error("a replica did not stop in time; killed", extra={"part": self.part})
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        self.listener.close()
