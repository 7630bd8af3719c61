"""The HTTP server of a Waymark process, stopped by its StopRequest: the requests in flight
are answered, those not answering by CUT_OFF_SECONDS get a 503 with Retry-After."""

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from waymark_cli.parts import create_service, pages_of, port_of
from waymark_cli.stopping import StopRequest
from waymark_kernel.settings import Settings
from waymark_kernel.web import Draining

log = logging.getLogger("waymark.stop")
# Requests in flight get this long to finish; those not answering yet by CUT_OFF_SECONDS are
# answered 503 with Retry-After. What follows (outbox, consumers, tasks, databases) has the rest.
DRAIN_SECONDS = 4
CUT_OFF_SECONDS = 3.0


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

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        cut_off = asyncio.get_running_loop().call_later(CUT_OFF_SECONDS, self._cut_off)
        try:
            await super().shutdown(sockets)
        finally:
            cut_off.cancel()

    def _cut_off(self) -> None:
        if count := self.draining.cut_off():
            log.warning("answering 503 to requests still running", extra={"requests": count})


def serve(
    settings: Settings, part: str, host: str | None, port: int | None, stop: StopRequest,
    parent_pid: int | None = None, listener_fd: int | None = None,
) -> None:
    """One process of `part`: on its own port, or accepting from a socket it inherited (`up`
    hands one socket to each of a part's replicas). It imports its own part's code only: the
    others' would cost every replica seconds of CPU at its start."""
    app: FastAPI
    options: dict[str, Any]
    if part == "gateway":
        from waymark_gateway.main import create_app as create_gateway
        from waymark_gateway.server import SERVER_OPTIONS

        app, options = create_gateway(settings, pages=pages_of(settings)), SERVER_OPTIONS
    else:
        app, options = create_service(part, settings), {"http": "httptools"}
    server = GracefulServer(uvicorn.Config(
        app, host=host or settings.host, port=port or port_of(part, settings), log_config=None,
        access_log=False, loop="uvloop", **options,
    ), stop, app.state.draining, parent_pid=parent_pid)
    server.run(sockets=None if listener_fd is None else [socket.socket(fileno=listener_fd)])
