import uuid
from datetime import datetime
from functools import cache
from typing import Literal

from pydantic import create_model
from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.clock import utcnow
from waymark_kernel.events import EVENT_TYPES, CloudEvent, EventData

from waymark_notifications.audience import audience
from waymark_notifications.feed import repository
from waymark_notifications.feed.schemas import EventTypeRead


async def record(session: AsyncSession, event: CloudEvent, data: EventData) -> None:
    """Keep the event for the feed of every organisation it concerns: pending until
    `append_pending` gives it its position."""
    organization_ids = audience(data)
    if organization_ids is not None and not organization_ids:
        return
    await repository.add_pending(session, {
        "event_id": uuid.UUID(event.id), "event_type": event.type, "occurred_at": event.time,
        "data": event.data, "public": organization_ids is None,
        "organization_ids": sorted(str(organization) for organization in organization_ids or ()),
        "recorded_at": utcnow(),
    })


async def append_pending(session: AsyncSession) -> None:
    """Readers call it first, so that the feed holds every event committed before they read."""
    await repository.append_pending(session)


@cache
def catalogue() -> list[EventTypeRead]:
    """Every event type with the JSON Schema of its webhook body, sorted by type."""
    entries = []
    for event_type in sorted(EVENT_TYPES):
        envelope = create_model(
            event_type.replace(".", "_"), type=(Literal[event_type], ...),
            timestamp=(datetime, ...), data=(EVENT_TYPES[event_type], ...),
        )
        entries.append(EventTypeRead(type=event_type, schema=envelope.model_json_schema()))
    return entries
