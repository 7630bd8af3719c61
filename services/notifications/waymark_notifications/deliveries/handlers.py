from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.db import after_commit
from waymark_kernel.events import EVENT_TYPES, CloudEvent
from waymark_kernel.messaging.consumer import SessionHandler

from waymark_notifications.deliveries import service


def event_handlers(wake_dispatcher: Callable[[], None]) -> dict[str, SessionHandler]:
    """Every catalogue event becomes deliveries to the subscriptions it concerns."""

    async def enqueue(session: AsyncSession, event: CloudEvent) -> None:
        if await service.enqueue_event(session, event):
            after_commit(session, "dispatch", wake_dispatcher)

    return dict.fromkeys(EVENT_TYPES, enqueue)
