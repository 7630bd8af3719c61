from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.db import after_commit
from waymark_kernel.events import CloudEvent, EventData

from waymark_notifications.event_steps import EventStep
from waymark_notifications.feed import service


def feed_handler(wake_appender: Callable[[], None]) -> EventStep:
    async def record(session: AsyncSession, event: CloudEvent, data: EventData) -> None:
        if await service.record(session, event, data):
            after_commit(session, "feed", wake_appender)

    return record
