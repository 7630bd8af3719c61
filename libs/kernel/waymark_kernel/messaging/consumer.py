"""Idempotent consumers: each event's effects and its processed-id commit together."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import Column, DateTime, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from waymark_kernel.db import Database
from waymark_kernel.events import CloudEvent, utcnow
from waymark_kernel.messaging.broker import Broker

SessionHandler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_events"

    consumer: str = Field(primary_key=True, max_length=100)
    event_id: uuid.UUID = Field(primary_key=True)
    processed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class Consumer:
    """Routes events by type to handlers; a redelivered event has no second effect."""

    def __init__(self, name: str, database: Database, handlers: dict[str, SessionHandler]) -> None:
        self.name = name
        self.database = database
        self.handlers = handlers

    async def handle(self, event: CloudEvent) -> None:
        handler = self.handlers.get(event.type)
        if handler is None:
            return
        event_id = uuid.UUID(event.id)
        async with self.database.transaction() as session:
            already = await session.execute(
                select(ProcessedEvent.event_id).where(
                    ProcessedEvent.consumer == self.name, ProcessedEvent.event_id == event_id
                )
            )
            if already.first() is not None:
                return
            await handler(session, event)
            # A concurrent duplicate fails here on the primary key and rolls back its effects.
            session.add(ProcessedEvent(consumer=self.name, event_id=event_id, processed_at=utcnow()))

    async def subscribe(self, broker: Broker, queue_prefix: str) -> None:
        await broker.consume(f"{queue_prefix}.{self.name}", list(self.handlers), self.handle)
