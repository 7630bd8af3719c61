"""Forgets what is kept only for a while: feed events after `event_retention_days`, request
bodies of finished deliveries after `delivery_body_retention_days`."""

import asyncio
import logging
from datetime import timedelta

from fastapi import FastAPI
from waymark_kernel.clock import utcnow
from waymark_kernel.db import Database
from waymark_kernel.settings import Settings

from waymark_notifications.deliveries import repository as delivery_repository
from waymark_notifications.feed import repository as feed_repository

log = logging.getLogger("waymark.notifications.retention")
PURGE_EVERY_SECONDS = 3600.0


async def purge_expired(database: Database, settings: Settings) -> None:
    now = utcnow()
    async with database.transaction() as session:
        await feed_repository.purge_recorded_before(
            session, now - timedelta(days=settings.event_retention_days)
        )
        await delivery_repository.purge_bodies_before(
            session, now - timedelta(days=settings.delivery_body_retention_days)
        )


def retention_task(settings: Settings):
    async def purge_periodically(app: FastAPI) -> None:
        """The background task: purge every hour."""
        while True:
            await asyncio.sleep(PURGE_EVERY_SECONDS)
            try:
                await purge_expired(app.state.database, settings)
            except Exception:
                log.exception("purging expired events and bodies failed")

    return purge_periodically
