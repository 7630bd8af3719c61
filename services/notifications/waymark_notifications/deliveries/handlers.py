from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.db import after_commit
from waymark_kernel.events import CloudEvent
from waymark_kernel.messaging.consumer import SessionHandler

from waymark_notifications.deliveries import service


def delivery_handler(wake_dispatcher: Callable[[], None]) -> SessionHandler:
    """An event becomes deliveries to the subscriptions it concerns."""

    async def enqueue(session: AsyncSession, event: CloudEvent) -> None:
        if await service.enqueue_event(session, event):
            after_commit(session, "dispatch", wake_dispatcher)

    return enqueue
