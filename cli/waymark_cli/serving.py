"""How a Waymark process stops: the first Ctrl-C (SIGINT), SIGTERM or SIGHUP asks it to stop,
it answers what it is answering and closes everything in order, well within STOP_SECONDS, and
exits with status 0; a second signal only hears that it is stopping."""

import asyncio
import contextlib
import contextvars
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType

import uvicorn
from waymark_kernel.web import Draining

log = logging.getLogger("waymark.stop")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_SECONDS = 10.0  # the promise: a stopped process is gone by then
# Requests in flight get this long to finish; those not answering yet by CUT_OFF_SECONDS are
# answered 503 with Retry-After. What follows (outbox, consumers, tasks, databases) has the rest.
DRAIN_SECONDS = 4.0
CUT_OFF_SECONDS = 3.0


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


class GracefulServer(uvicorn.Server):
    """A uvicorn server stopped by the process's StopRequest (uvicorn's own handlers would
    force an exit at a second signal and re-raise the first one after its shutdown), which
    drains its requests for DRAIN_SECONDS and answers 503 to those not answering by then."""

    def __init__(
        self, config: uvicorn.Config, stop: StopRequest, draining: Draining, *,
        parent_pid: int | None = None,
    ) -> None:
        config.timeout_graceful_shutdown = DRAIN_SECONDS
        super().__init__(config)
        self.draining = draining
        self.parent_pid = parent_pid
        stop.on_stop(self.request_exit)

    def request_exit(self) -> None:
        self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        # Once a second: a part whose launcher is gone (killed outright) stops by itself.
        if self.parent_pid is not None and counter % 10 == 0 and os.getppid() != self.parent_pid:
            log.warning("the launcher is gone; stopping", extra={"parent_pid": self.parent_pid})
            self.should_exit = True
        return await super().on_tick(counter)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def shutdown(self, sockets=None) -> None:
        cut_off = asyncio.get_running_loop().call_later(CUT_OFF_SECONDS, self._cut_off)
        try:
            await super().shutdown(sockets)
        finally:
            cut_off.cancel()

    def _cut_off(self) -> None:
        if count := self.draining.cut_off():
            log.warning("answering 503 to requests still running", extra={"requests": count})
