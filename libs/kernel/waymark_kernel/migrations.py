"""Alembic, run programmatically: each service keeps its own script folder and history."""

import asyncio
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from waymark_kernel.db import create_private_sqlite_file, is_sqlite
from waymark_kernel.messaging.outbox import TRACEPARENT_LENGTH, UNPUBLISHED
from waymark_kernel.settings import Settings


def alembic_config(
    database_url: str, script_location: Path, settings: Settings | None = None
) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["database_url"] = database_url
    config.attributes["settings"] = settings
    return config


def migration_settings() -> Settings:
    """The settings the running migration was given (a migration converting data may need a
    key), or those of the environment."""
    return context.config.attributes.get("settings") or Settings()


async def ensure_database(database_url: str) -> None:
    """Create the database named in the URL if it does not exist yet."""
    if is_sqlite(database_url):
        create_private_sqlite_file(database_url)
        return
    url = make_url(database_url)
    admin = url.set(drivername="postgresql", database="postgres")
    connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", url.database)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{url.database}"')
    finally:
        await connection.close()


async def upgrade(
    database_url: str, script_location: Path, settings: Settings | None = None,
    *, revision: str = "head",
) -> None:
    await ensure_database(database_url)
    config = alembic_config(database_url, script_location, settings)
    # Alembic's env runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(command.upgrade, config, revision)


def run_env() -> None:
    """The body of every service's migrations/env.py (online, async engine)."""
    url = context.config.attributes["database_url"]

    def migrate(connection: sa.Connection) -> None:
        context.configure(connection=connection, render_as_batch=is_sqlite(url))
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run())


def index_unpublished_outbox_in_order() -> None:
    """The relay takes the oldest unpublished events, in (created_at, id) order: a partial index
    in that order gives a batch its rows alone, where one on (published_at, created_at) had
    every batch read and sort all the unpublished rows (97 ms a batch with 92,000 waiting)."""
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.create_index(
        "ix_outbox_unpublished", "outbox", ["created_at", "id"],
        postgresql_where=sa.text(UNPUBLISHED), sqlite_where=sa.text(UNPUBLISHED),
    )


def index_unpublished_outbox_by_publication() -> None:
    """The index before `index_unpublished_outbox_in_order`, for a downgrade."""
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.create_index("ix_outbox_unpublished", "outbox", ["published_at", "created_at"])


def add_outbox_trace_context() -> None:
    """The outbox row keeps the W3C trace context of the change that wrote its event."""
    with op.batch_alter_table("outbox") as outbox:
        outbox.add_column(sa.Column("traceparent", sa.String(TRACEPARENT_LENGTH), nullable=True))
        outbox.add_column(sa.Column("tracestate", sa.Text(), nullable=True))


def drop_outbox_trace_context() -> None:
    with op.batch_alter_table("outbox") as outbox:
        outbox.drop_column("tracestate")
        outbox.drop_column("traceparent")


def create_messaging_tables() -> None:
    """Outbox and processed-event tables, used by every service's first migration."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["published_at", "created_at"])
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.Uuid(), primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    )
