from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.db import after_commit
from waymark_kernel.events import CloudEvent, EventData
from waymark_notifications.deliveries import service
from waymark_notifications.deliveries.dispatcher import Dispatcher
from waymark_notifications.event_steps import EventStep


def delivery_handler(dispatcher: Dispatcher) -> EventStep:
    """An event becomes deliveries to the subscriptions it concerns; those the dispatcher has
    room for leave as soon as they are committed."""

    async def enqueue(session: AsyncSession, event: CloudEvent, data: EventData) -> None:
        leased, waiting = await service.enqueue_event(
            session, event, data, dispatcher.room_for, dispatcher.lease_end()
        )
        if leased or waiting:
            after_commit(session, "dispatch", partial(dispatcher.send_leased, leased, waiting))

    return enqueue
