"""Migration 0013 on SQLite and PostgreSQL: services stored before it keep everything and have
no kept HSDS tables and no source; it goes down again."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlmodel import col

from waymark_kernel.clock import utcnow
from waymark_kernel.db import Database, table_of
from waymark_kernel.testing import create_database, drop_database
from waymark_registry.main import MIGRATIONS
from waymark_registry.organizations.models import Organization
from waymark_registry.services.models import Service

ADDED_IN_0013 = {"required_documents", "cost_options", "service_areas", "contacts",
                 "external_terms", "source"}


async def migrate(
    url: str, revision: str, step: Callable[[Config, str], None] = command.upgrade
) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url
    await asyncio.to_thread(step, config, revision)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}"
        return
    url = await create_database("registry_hsds_migration")
    yield url
    await drop_database(url)


def before_0013(table: sa.Table) -> sa.TableClause:
    return sa.table(table.name, *(sa.column(column.name, column.type)
                                  for column in table.columns if column.name not in ADDED_IN_0013))


async def test_services_from_before_keep_everything_and_the_migration_goes_down(
    database_url: str
) -> None:
    await migrate(database_url, "0012")
    now, organization_id, service_id = utcnow(), uuid.uuid4(), uuid.uuid4()
    database = Database(database_url)
    async with database.transaction() as session:
        await session.execute(sa.insert(before_0013(table_of(Organization))).values(
            id=organization_id, name="Caritas", type="cso", country="LB", languages=["ar"],
            identifiers=[], verified=False, created_at=now, updated_at=now,
        ))
        await session.execute(sa.insert(before_0013(table_of(Service))).values(
            id=service_id, organization_id=organization_id, name="Legal desk",
            categories=["legal.information"], status="active", languages=["ar"],
            interpretation_available=False, populations=[], migration_stages=[],
            free_of_charge=True, accepts_referrals=True, phones=[], schedules=[],
            last_verified_at=now, created_at=now, updated_at=now,
        ))
    await database.dispose()

    await migrate(database_url, "head")
    database = Database(database_url)
    async with database.transaction() as session:
        migrated = (await session.execute(
            sa.select(Service).where(col(Service.id) == service_id)
        )).scalar_one()
        kept = {column: getattr(migrated, column) for column in sorted(ADDED_IN_0013)}
        name = migrated.name
    await database.dispose()
    await migrate(database_url, "0012", command.downgrade)

    assert name == "Legal desk"
    assert kept == {"contacts": [], "cost_options": [], "external_terms": [],
                    "required_documents": [], "service_areas": [], "source": None}
    database = Database(database_url)
    async with database.engine.connect() as connection:
        columns = {column["name"] for column in await connection.run_sync(
            lambda sync: sa.inspect(sync).get_columns(Service.__tablename__)
        )}
    await database.dispose()
    assert not columns & ADDED_IN_0013
