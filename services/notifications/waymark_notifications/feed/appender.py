"""Gives pending events their feed positions in batches: woken by the commits that record
them, and once a second for those another replica recorded. Readers of the feed do it too
before they read, so they see every event committed before."""

import asyncio
import logging

from fastapi import FastAPI
from waymark_kernel.db import Database
from waymark_kernel.wakeup import wait_until_woken

from waymark_notifications.feed import service

log = logging.getLogger("waymark.notifications.feed")


class FeedAppender:
    def __init__(self, *, poll_seconds: float = 1.0) -> None:
        self.poll_seconds = poll_seconds
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self, app: FastAPI) -> None:
        """The background task of the service."""
        database: Database = app.state.database
        while True:
            self._wakeup.clear()
            try:
                async with database.transaction() as session:
                    await service.append_pending(session)
            except Exception:
                log.exception("appending events to the feed failed")
            await wait_until_woken(self._wakeup, self.poll_seconds)
