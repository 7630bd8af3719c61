"""Gives pending events their feed positions once a second, a batch at a time. Readers of the
feed do it too before they read, so they see every event committed before; this task keeps
the pending ones few when nobody reads."""

import asyncio
import logging

from fastapi import FastAPI

from waymark_kernel.db import Database
from waymark_notifications.feed import service

log = logging.getLogger("waymark.notifications.feed")
APPEND_EVERY_SECONDS = 1.0


async def append_periodically(app: FastAPI) -> None:
    """The background task of the service."""
    database: Database = app.state.database
    while True:
        try:
            async with database.transaction() as session:
                await service.append_pending(session)
        except Exception:
            log.exception("appending events to the feed failed")
        await asyncio.sleep(APPEND_EVERY_SECONDS)
