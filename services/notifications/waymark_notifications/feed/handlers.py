from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.events import CloudEvent, EventData
from waymark_notifications.feed import service


async def record_in_feed(session: AsyncSession, event: CloudEvent, data: EventData) -> None:
    await service.record(session, event, data)
