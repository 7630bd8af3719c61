"""Every event is handled in one transaction by the steps of each domain, in turn; its data
is read into its typed model once for all of them."""

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.events import EVENT_TYPES, CloudEvent, EventData
from waymark_kernel.messaging.consumer import SessionHandler

EventStep = Callable[[AsyncSession, CloudEvent, EventData], Awaitable[None]]


def every_event(*steps: EventStep) -> dict[str, SessionHandler]:
    async def handle(session: AsyncSession, event: CloudEvent) -> None:
        data = event.typed_data()
        for step in steps:
            await step(session, event, data)

    return dict.fromkeys(EVENT_TYPES, handle)
