"""A service's first migration creates the messaging tables the outbox and consumer use."""

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.db import Database
from waymark_kernel.events import CloudEvent, WebhookTest
from waymark_kernel.messaging import Consumer, OutboxRelay, record_event
from waymark_kernel.messaging.inprocess import InProcessBroker
from waymark_kernel.migrations import upgrade
from waymark_kernel.testing import POSTGRES_URL, drop_database, unique_name

FIRST_REVISION = '''
from alembic import op
import sqlalchemy as sa

from waymark_kernel.migrations import create_messaging_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_messaging_tables()
    op.create_table("kernel_test_notes", sa.Column("id", sa.Uuid(), primary_key=True))
'''
IN_RELAY_ORDER = '''
from waymark_kernel.migrations import index_unpublished_outbox_in_order

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    index_unpublished_outbox_in_order()
'''
TRACE_CONTEXT = '''
from waymark_kernel.migrations import add_outbox_trace_context

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    add_outbox_trace_context()
'''
NOTES = sa.Table("kernel_test_notes", sa.MetaData(), sa.Column("id", sa.Uuid, primary_key=True))


def write_migrations(folder: Path) -> Path:
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text("from waymark_kernel.migrations import run_env\n\nrun_env()\n")
    (folder / "versions" / "0001_first.py").write_text(FIRST_REVISION)
    (folder / "versions" / "0002_in_relay_order.py").write_text(IN_RELAY_ORDER)
    (folder / "versions" / "0003_trace_context.py").write_text(TRACE_CONTEXT)
    return folder


async def assert_messaging_works(database: Database) -> None:
    broker = InProcessBroker()
    await broker.start()

    async def note(session: AsyncSession, event: CloudEvent) -> None:
        await session.execute(NOTES.insert().values(id=uuid.UUID(event.id)))

    await Consumer("notes", database, {"webhook.test": note}).subscribe(broker, "kernel")
    try:
        async with database.transaction() as session:
            await record_event(session, "kernel-tests", "webhook.test", WebhookTest(
                subscription_id=uuid.uuid4(), organization_id=uuid.uuid4(),
            ))
        assert await OutboxRelay(database, broker).publish_pending() == 1
        async with database.transaction() as session:
            assert await session.scalar(sa.text("SELECT count(*) FROM kernel_test_notes")) == 1
            assert await session.scalar(sa.text("SELECT count(*) FROM processed_events")) == 1
    finally:
        await broker.close()
        await database.dispose()


@pytest.mark.integration
async def test_postgresql_upgrade_creates_a_missing_database_and_the_messaging_tables(tmp_path: Path) -> None:
    url = f"{POSTGRES_URL}/{unique_name('kernel_test')}"
    try:
        await upgrade(url, write_migrations(tmp_path / "migrations"))
        await upgrade(url, tmp_path / "migrations")  # at head already: nothing to do
        await assert_messaging_works(Database(url))
    finally:
        await drop_database(url)


async def test_upgrade_creates_the_messaging_tables_in_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"

    await upgrade(url, write_migrations(tmp_path / "migrations"))

    await assert_messaging_works(Database(url))


@pytest.mark.integration
async def test_postgresql_the_relay_reads_a_batch_of_unpublished_events_without_sorting_them_all(tmp_path: Path) -> None:
    url = f"{POSTGRES_URL}/{unique_name('kernel_test')}"
    try:
        await upgrade(url, write_migrations(tmp_path / "migrations"))
        database = Database(url)
        async with database.transaction() as session:
            await session.execute(sa.text(
                "INSERT INTO outbox (id, event_type, body, created_at, published_at, attempts) "
                "SELECT gen_random_uuid(), 'webhook.test', '{}', now(), "
                "CASE WHEN n % 2 = 0 THEN NULL ELSE now() END, 0 "
                "FROM generate_series(1, 10000) AS n"
            ))
        async with database.transaction() as session:
            await session.execute(sa.text("ANALYZE outbox"))
            plan = "\n".join((await session.execute(sa.text(
                "EXPLAIN SELECT id FROM outbox WHERE published_at IS NULL "
                "ORDER BY created_at, id LIMIT 100 FOR UPDATE SKIP LOCKED"
            ))).scalars())
        await database.dispose()
        assert "ix_outbox_unpublished" in plan, plan
        assert "Sort" not in plan, plan
    finally:
        await drop_database(url)
