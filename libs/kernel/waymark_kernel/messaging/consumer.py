"""Idempotent consumers: each event's effects and its processed-id commit together."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from waymark_kernel.clock import utcnow
from waymark_kernel.db import Database, Upsert
from waymark_kernel.events import CloudEvent
from waymark_kernel.messaging.broker import Broker
from waymark_kernel.tracing import SpanKind, span, trace_headers_of

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
        # Of the table, not the model: the ORM compiled this upsert again at every event.
        table = ProcessedEvent.__table__
        self._claim = Upsert(
            table, lambda insert: insert.on_conflict_do_nothing().returning(table.c.event_id)
        )

    async def handle(self, event: CloudEvent) -> None:
        handler = self.handlers.get(event.type)
        if handler is None:
            return
        with span(
            self.name, f"process {event.type}", SpanKind.CONSUMER,
            parent=trace_headers_of(event.traceparent, event.tracestate),
            attributes={"cloudevents.event_id": event.id, "cloudevents.event_type": event.type,
                        "messaging.consumer.group.name": self.name},
        ):
            await self._handle_once(handler, event)

    async def _handle_once(self, handler: SessionHandler, event: CloudEvent) -> None:
        async with self.database.transaction() as session:
            # The processed id first: a redelivered copy finds it and stops, and a concurrent
            # copy waits on the row until this transaction ends, then finds it or takes it.
            claimed = await self._claim.of(session).fetch(
                session, consumer=self.name, event_id=uuid.UUID(event.id), processed_at=utcnow(),
            )
            if not claimed:
                return
            await handler(session, event)

    async def subscribe(self, broker: Broker, queue_prefix: str) -> None:
        await broker.consume(f"{queue_prefix}.{self.name}", list(self.handlers), self.handle)
