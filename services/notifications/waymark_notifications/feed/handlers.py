from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.events import CloudEvent

from waymark_notifications.feed import service


async def record_in_feed(session: AsyncSession, event: CloudEvent) -> None:
    await service.record(session, event)
