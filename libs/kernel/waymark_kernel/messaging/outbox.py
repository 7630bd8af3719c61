"""Transactional outbox: the event row is written in the transaction of the change; the
relay publishes it with a publisher confirm and only then marks it sent."""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    String,
    Text,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from waymark_kernel.clock import utcnow
from waymark_kernel.db import ORIGIN, Database, Prepared, after_commit, insert_rows, table_of
from waymark_kernel.events import CloudEvent, EventData
from waymark_kernel.messaging.broker import Broker, PublishFailed, backoff
from waymark_kernel.tracing import SpanKind, current_trace_headers, span, trace_headers_of
from waymark_kernel.wakeup import wait_until_woken

log = logging.getLogger("waymark.outbox")
NOTIFY_CHANNEL = "waymark_outbox"
UNPUBLISHED = "published_at IS NULL"
TRACEPARENT_LENGTH = 55  # version 00 of the W3C header, the one written


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index(
        "ix_outbox_unpublished", "created_at", "id",
        postgresql_where=text(UNPUBLISHED), sqlite_where=text(UNPUBLISHED),
    ),)

    id: uuid.UUID = Field(primary_key=True)
    event_type: str = Field(max_length=100)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    published_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    attempts: int = 0
    # The W3C trace context of the change that wrote the event; none when tracing is off.
    traceparent: str | None = Field(
        default=None, sa_column=Column(String(TRACEPARENT_LENGTH), nullable=True)
    )
    tracestate: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


# A plain insert: the row is never read back in the transaction that writes it.
_INSERT_OUTBOX_ROW = Prepared.insert_into(table_of(OutboxMessage))
_NOTIFY = Prepared(
    select(func.pg_notify(NOTIFY_CHANNEL, bindparam("origin"))), only_on="postgresql"
)


def _outbox_row(event: CloudEvent) -> dict[str, Any]:
    trace = current_trace_headers()
    return {"id": uuid.UUID(event.id), "event_type": event.type,
            "body": event.model_dump_json(), "created_at": event.time, "published_at": None,
            "attempts": 0, "traceparent": trace.get("traceparent"),
            "tracestate": trace.get("tracestate")}


async def record_event(session: AsyncSession, source: str, event_type: str, data: EventData) -> CloudEvent:
    """Add an event to the outbox inside the caller's transaction."""
    event = CloudEvent.of(source, event_type, data)
    await _INSERT_OUTBOX_ROW.execute(session, **_outbox_row(event))
    await _wake_relays(session)
    return event


async def record_events(
    session: AsyncSession, source: str, events: Sequence[tuple[str, EventData]]
) -> None:
    """Many events (a bulk change) added in bulk, with one wake-up for the relays."""
    await record_outbox_rows(session, outbox_rows(source, events))


def outbox_rows(
    source: str, events: Sequence[tuple[str, EventData]]
) -> list[dict[str, Any]]:
    """The outbox rows of events: CPU work only, which a bulk change can do in a worker thread
    while its database writes run."""
    return [_outbox_row(CloudEvent.of(source, event_type, data)) for event_type, data in events]


async def record_outbox_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Rows of `outbox_rows` added in bulk, with one wake-up for the relays."""
    if not rows:
        return
    await insert_rows(session, table_of(OutboxMessage), rows)
    await _wake_relays(session)


async def _wake_relays(session: AsyncSession) -> None:
    if session.bind.dialect.name == "postgresql" and not session.info.get("outbox_notified"):
        # Delivered by PostgreSQL only if the transaction commits: wakes relays elsewhere. The
        # payload names the committing Database, whose own relay the after-commit hook wakes.
        await _NOTIFY.execute(session, origin=session.info.get(ORIGIN, ""))
        session.info["outbox_notified"] = True
    wake = session.info.get("on_outbox_commit")
    if wake is not None:
        after_commit(session, "outbox", wake)


class OutboxRelay:
    def __init__(
        self, database: Database, broker: Broker, *, poll_seconds: float = 1.0, batch_size: int = 100,
        retry_base_seconds: float = 0.5, max_backoff_seconds: float = 10.0,
    ) -> None:
        self.database = database
        self.broker = broker
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.retry_base_seconds = retry_base_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        self._finished.set()  # not running
        database.on_outbox_commit = self.wake

    def wake(self) -> None:
        self._wakeup.set()

    async def stop(self, grace: float) -> bool:
        """Asks `run` to return after the batch in hand (what is not confirmed by then stays in
        the outbox for the next start); True once it has, within `grace` seconds."""
        self._stopping.set()
        self._wakeup.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._finished.wait()
        return self._finished.is_set()

    def _notified(self, _connection: object, _pid: int, _channel: str, origin: object) -> None:
        if origin != self.database.origin:  # its own commits woke it already, after commit
            self.wake()

    async def publish_pending(self) -> int:
        """Publish one batch in order; returns how many were confirmed."""
        published, _ = await self._publish_batch()
        return published

    async def _publish_batch(self) -> tuple[int, bool]:
        """(confirmed, blocked): blocked when the broker refused an event of the batch."""
        async with self.database.transaction() as session:
            query = (
                select(OutboxMessage)
                .where(col(OutboxMessage.published_at).is_(None))
                .order_by(col(OutboxMessage.created_at), col(OutboxMessage.id))
                .limit(self.batch_size)
            )
            if not self.database.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            messages = (await session.execute(query)).scalars().all()
            confirmed, refused = await self._publish_in_order(messages)
            if refused:
                await session.execute(
                    update(OutboxMessage).where(col(OutboxMessage.id).in_(refused))
                    .values(attempts=OutboxMessage.attempts + 1)
                )
            if confirmed:
                await session.execute(
                    update(OutboxMessage).where(col(OutboxMessage.id).in_(confirmed))
                    .values(published_at=utcnow())
                )
            return len(confirmed), bool(refused)

    async def _publish_in_order(
        self, messages: Sequence[OutboxMessage]
    ) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
        """(confirmed ids, refused ids). The head goes alone first: while the broker is away only
        it is tried and nothing overtakes it. The rest are then in flight together, written in
        order, their confirms awaited together: one round trip a batch, not one an event."""
        if not messages:
            return [], []
        head, rest = messages[0], messages[1:]
        if not await self._confirmed(head):
            return [], [head.id]
        outcomes = await asyncio.gather(*map(self._confirmed, rest))
        return ([head.id, *(m.id for m, ok in zip(rest, outcomes, strict=True) if ok)],
                [m.id for m, ok in zip(rest, outcomes, strict=True) if not ok])

    async def _confirmed(self, message: OutboxMessage) -> bool:
        event = CloudEvent.model_validate_json(message.body)
        with span(
            "outbox", f"publish {event.type}", SpanKind.PRODUCER,
            parent=trace_headers_of(message.traceparent, message.tracestate),
            attributes={"cloudevents.event_id": event.id, "cloudevents.event_type": event.type,
                        "cloudevents.event_source": event.source},
        ) as traced:
            # The event carries the publishing span: each consumer's is its child.
            trace = traced.headers
            try:
                await self.broker.publish(event.model_copy(update=trace) if trace else event)
            except PublishFailed as exc:
                traced.failed("not confirmed")
                log.warning("publish not confirmed; will retry", extra={
                    "event_id": str(message.id), "reason": str(exc),
                })
                return False
        return True

    async def run(self) -> None:
        listener: asyncpg.Connection | None = None
        self._finished.clear()
        try:
            failures = 0
            while True:
                self._wakeup.clear()  # before the check: a stop after it wakes the wait below
                if self._stopping.is_set():
                    return
                listener = await self._keep_listening(listener)
                try:
                    published, blocked = await self._publish_batch()
                except Exception:
                    log.exception("outbox relay pass failed")
                    published, blocked = 0, True
                if blocked:
                    # Commits keep waking the relay while the broker is away: back off instead.
                    failures += 1
                    pause = backoff(self.retry_base_seconds, failures, self.max_backoff_seconds)
                    await wait_until_woken(self._stopping, pause)
                    continue
                failures = 0
                if published == self.batch_size:
                    continue
                await wait_until_woken(self._wakeup, self.poll_seconds)
        finally:
            try:
                if listener is not None:
                    with contextlib.suppress(Exception):
                        await listener.close()
            finally:
                self._finished.set()

    async def _keep_listening(self, listener: asyncpg.Connection | None) -> asyncpg.Connection | None:
        """The LISTEN connection, opened again after the database dropped it (a restart)."""
        if self.database.is_sqlite or (listener is not None and not listener.is_closed()):
            return listener
        dsn = make_url(self.database.url).set(drivername="postgresql")
        try:
            connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
            await connection.add_listener(NOTIFY_CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError):
            log.warning("LISTEN unavailable; the relay polls and tries again")
            return None
        # Wake at once when it is dropped, to open it again and catch up on what was missed.
        connection.add_termination_listener(lambda _: self.wake())
        return connection
