"""Migration 0014 on SQLite and PostgreSQL: sources, their runs and crosswalks are stored and
read back through the models; deleting a source deletes its runs; it goes down again."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from waymark_kernel.clock import utcnow
from waymark_kernel.db import Database
from waymark_kernel.migrations import alembic_config, upgrade
from waymark_kernel.testing import throwaway_database
from waymark_registry.crosswalks.models import StoredCrosswalk
from waymark_registry.main import MIGRATIONS
from waymark_registry.sources.models import HsdsSource, SourceRun

TABLES = {"registry_hsds_sources", "registry_hsds_source_runs", "registry_crosswalks"}


@pytest.fixture
async def database_url(dialect: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database: the test migrates it itself."""
    async with throwaway_database(dialect, "registry_sources_migration", tmp_path) as url:
        yield url


async def tables(url: str) -> set[str]:
    database = Database(url)
    async with database.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    await database.dispose()
    return set(names)


async def test_sources_runs_and_crosswalks_are_kept_and_the_migration_goes_down(
    database_url: str
) -> None:
    await upgrade(database_url, MIGRATIONS, revision="0013")
    await upgrade(database_url, MIGRATIONS)
    now = utcnow()
    source = HsdsSource(name="Leeds", url="https://hsds.example.org", interval_minutes=60,
                        crosswalks=["leeds"], next_run_at=now, created_at=now, updated_at=now)
    database = Database(database_url)
    async with database.transaction() as session:
        session.add(source)
        session.add(StoredCrosswalk(name="leeds", text="taxonomy,code,category\r\n", mappings=0,
                                    created_at=now, updated_at=now))
        await session.flush()
        session.add(SourceRun(source_id=source.id, started_at=now, report={"withdrawn": 1}))
    async with database.transaction() as session:
        stored = (await session.execute(sa.select(HsdsSource))).scalar_one()
        run = (await session.execute(sa.select(SourceRun))).scalar_one()
        read = (stored.crosswalks, stored.enabled, stored.leased_until, run.outcome, run.report)
        await session.delete(stored)
    async with database.transaction() as session:
        counted = await session.execute(sa.select(sa.func.count()).select_from(SourceRun))
        runs_left = counted.scalar_one()
    await database.dispose()
    await asyncio.to_thread(command.downgrade, alembic_config(database_url, MIGRATIONS), "0013")

    assert read == (["leeds"], True, None, "running", {"withdrawn": 1})
    assert runs_left == 0
    assert not await tables(database_url) & TABLES
