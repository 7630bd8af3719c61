from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.db import after_commit
from waymark_kernel.events import CloudEvent
from waymark_kernel.messaging.consumer import SessionHandler

from waymark_notifications.inbox import service


def inbox_handler(wake_mailer: Callable[[], None]) -> SessionHandler:
    async def notify(session: AsyncSession, event: CloudEvent) -> None:
        await service.remember_contact(session, event)
        if await service.notify(session, event):
            after_commit(session, "mail", wake_mailer)

    return notify
