from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.db import after_commit
from waymark_kernel.events import CloudEvent, EventData
from waymark_notifications.event_steps import EventStep
from waymark_notifications.inbox import service


def inbox_handler(wake_mailer: Callable[[], None]) -> EventStep:
    async def notify(session: AsyncSession, event: CloudEvent, data: EventData) -> None:
        await service.remember_contact(session, data)
        if await service.notify(session, event, data):
            after_commit(session, "mail", wake_mailer)

    return notify
