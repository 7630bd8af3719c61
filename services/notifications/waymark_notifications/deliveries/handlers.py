from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.db import after_commit
from waymark_kernel.events import CloudEvent, EventData

from waymark_notifications.deliveries import service
from waymark_notifications.event_steps import EventStep


def delivery_handler(wake_dispatcher: Callable[[], None]) -> EventStep:
    """An event becomes deliveries to the subscriptions it concerns."""

    async def enqueue(session: AsyncSession, event: CloudEvent, data: EventData) -> None:
        if await service.enqueue_event(session, event, data):
            after_commit(session, "dispatch", wake_dispatcher)

    return enqueue
