"""How a Waymark process is asked to stop: the first Ctrl-C (SIGINT), SIGTERM or SIGHUP asks
it to stop; it answers what it is answering and closes everything in order, well within
STOP_SECONDS, and exits with status 0; a later signal only hears that it is stopping. Only the
standard library here: the command installs this before its imports, which take seconds."""

import asyncio
import contextlib
import contextvars
import logging
import signal
from collections.abc import Awaitable, Callable
from types import FrameType

log = logging.getLogger("waymark.stop")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_SECONDS = 10.0  # the promise: a stopped process is gone by then


def exit_at_once(_signum: int, _frame: FrameType | None) -> None:
    """Before there is anything to stop in order (the command still imports its parts)."""
    raise SystemExit(0)


class StopRequest:
    """The process's stop signals, from start to exit. A signal handler only sets flags and
    schedules the rest on the event loop: it may run in the middle of anything."""

    def __init__(self) -> None:
        self.requested = False
        self._listeners: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._received)

    def on_stop(self, listener: Callable[[], None]) -> None:
        """`listener` runs in the signal handler: it may only set flags."""
        self._listeners.append(listener)
        if self.requested:
            listener()

    async def wait(self) -> None:
        if self._event is None:
            self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()
            if self.requested:
                self._event.set()
        await self._event.wait()

    async def unless_requested(self, work: Callable[[], Awaitable[object]]) -> bool:
        """Runs `work` to its end (True), or cancels it when a stop is asked for first (False)."""
        if self.requested:
            return False
        task = asyncio.ensure_future(work())
        stopping = asyncio.ensure_future(self.wait())
        await asyncio.wait([task, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if task.done():
            task.result()
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False

    def _received(self, signum: int, _frame: FrameType | None) -> None:
        self.request(signal.Signals(signum).name)

    def request(self, reason: str) -> None:
        if self.requested:
            self._later(lambda: log.info("already stopping", extra={"signal": reason}))
            return
        self.requested = True
        for listener in self._listeners:
            listener()
        self._later(lambda: log.info(
            "stopping: requests in flight are answered, then everything closes",
            extra={"signal": reason},
        ))
        if self._event is not None:
            self._later(self._event.set)

    def _later(self, callback: Callable[[], None]) -> None:
        if self._loop is not None and not self._loop.is_closed():
            # In a context of its own: not that of the request the signal interrupted.
            self._loop.call_soon_threadsafe(callback, context=contextvars.Context())
