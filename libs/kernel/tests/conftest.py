"""Fixtures of the kernel tests: real PostgreSQL and RabbitMQ, uniquely named and cleaned up."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from waymark_kernel.db import Database, table_of
from waymark_kernel.events import CloudEvent, ReferralChanged
from waymark_kernel.messaging import OutboxMessage, ProcessedEvent
from waymark_kernel.messaging.rabbitmq import RabbitMqBroker
from waymark_kernel.testing import POSTGRES_ADMIN_DSN, RABBITMQ_URL, create_database, drop_database

# No unique constraint on purpose: an event applied twice shows up as two rows.
EFFECTS = sa.Table(
    "kernel_test_effects", sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Uuid, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
)



@contextlib.asynccontextmanager
async def nothing_to_start(app: FastAPI) -> AsyncIterator[None]:
    """The lifespan of an app built for a test that starts nothing."""
    yield


async def _create_tables(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.run_sync(
            SQLModel.metadata.create_all,
            tables=[table_of(OutboxMessage), table_of(ProcessedEvent)],
        )
        await connection.run_sync(EFFECTS.metadata.create_all)


class Ledger:
    """The effects of the test consumer: one row per application of an event."""

    @staticmethod
    async def apply(session: AsyncSession, event: CloudEvent) -> None:
        await session.execute(
            EFFECTS.insert().values(event_id=uuid.UUID(event.id), n=event.data["version"])
        )

    @staticmethod
    async def rows(database: Database) -> list[tuple[uuid.UUID, int]]:
        async with database.transaction() as session:
            result = await session.execute(
                sa.select(EFFECTS.c.event_id, EFFECTS.c.n).order_by(EFFECTS.c.id)
            )
            return [tuple(row) for row in result]

    async def wait_for(self, database: Database, count: int, timeout: float = 30.0) -> list[Any]:
        """The rows once at least `count` exist (or whatever exists when `timeout` runs out)."""
        rows = await self.rows(database)
        deadline = asyncio.get_running_loop().time() + timeout
        while len(rows) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            rows = await self.rows(database)
        return rows


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
def new_event() -> Callable[[int], CloudEvent]:
    """A `referral.accepted` event whose `version` is `n` (the effect row records it)."""
    def make(n: int) -> CloudEvent:
        return CloudEvent.of("kernel-tests", "referral.accepted", ReferralChanged(
            referral_id=uuid.uuid4(), sender_org_id=uuid.uuid4(), receiver_org_id=uuid.uuid4(),
            status="accepted", from_country="GR", to_country="DE", urgency="normal", version=n,
        ))
    return make


@contextlib.asynccontextmanager
async def _postgres_database() -> AsyncIterator[Database]:
    url = await create_database("kernel_test")
    database = Database(url)
    try:
        await _create_tables(database)
        yield database
    finally:
        await database.dispose()
        await drop_database(url)


@contextlib.asynccontextmanager
async def _sqlite_database(directory: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{directory / 'kernel.db'}")
    try:
        await _create_tables(database)
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def postgres() -> AsyncIterator[Database]:
    """A throw-away PostgreSQL database with the outbox, processed-events and effects tables."""
    async with _postgres_database() as database:
        yield database


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Database]:
    """The same tables in a SQLite file, as in standalone mode."""
    async with _sqlite_database(tmp_path) as database:
        yield database


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """Each of the two, for what must hold on both."""
    opened = _sqlite_database(tmp_path) if request.param == "sqlite" else _postgres_database()
    async with opened as database:
        yield database


class Rabbit:
    """Unique exchange and queue names for one test, and the brokers it started."""

    def __init__(self) -> None:
        token = uuid.uuid4().hex[:12]
        self.exchange = f"test.events.{token}"
        self.queue_prefix = f"test.{token}"
        self.queues: set[str] = set()
        self.brokers: list[RabbitMqBroker] = []

    def queue(self, name: str) -> str:
        queue = f"{self.queue_prefix}.{name}"
        self.queues.add(queue)
        return queue

    async def broker(self, url: str = RABBITMQ_URL, **options: Any) -> RabbitMqBroker:
        broker = RabbitMqBroker(url, self.exchange, **options)
        await broker.start()
        self.brokers.append(broker)
        return broker

    async def clean_up(self) -> None:
        for broker in self.brokers:
            await broker.close()
        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            for queue in self.queues:
                await channel.queue_delete(queue)
                await channel.queue_delete(f"{queue}.dead")
            await channel.exchange_delete(self.exchange)
            await channel.exchange_delete(f"{self.exchange}.dlx")


@pytest.fixture
async def rabbit() -> AsyncIterator[Rabbit]:
    names = Rabbit()
    try:
        yield names
    finally:
        await names.clean_up()


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


@pytest.fixture
def eventually() -> Callable[..., Awaitable[bool]]:
    """`await eventually(async_condition, timeout)`: a bounded wait for something to arrive."""
    return wait_until


async def _drop_every_connection(database: Database) -> int:
    """What a restart does to the clients of `database`: every server connection ends."""
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        ended = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()", make_url(database.url).database,
        )
    finally:
        await admin.close()
    return len(ended)


@pytest.fixture
def dropped() -> Callable[[Database], Awaitable[int]]:
    """`await dropped(database)`: every connection to the database ends, as in a restart."""
    return _drop_every_connection
