"""A read `FOR UPDATE` keeps what it read current until its transaction ends, on SQLite (which
locks no rows) as on PostgreSQL: two read-then-write transactions never build on one value."""

import asyncio

import sqlalchemy as sa

from waymark_kernel.db import Database

COUNTERS = sa.Table(
    "locking_counters", sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True), sa.Column("value", sa.Integer, nullable=False),
)
ONE = COUNTERS.c.id == 1


async def test_two_read_then_write_transactions_of_one_row_take_turns(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.run_sync(COUNTERS.metadata.create_all)
    async with database.transaction() as session:
        await session.execute(COUNTERS.insert().values(id=1, value=0))

    async def increment() -> None:
        async with database.transaction() as session:
            read = sa.select(COUNTERS.c.value).where(ONE).with_for_update()
            value = (await session.execute(read)).scalar_one()
            await asyncio.sleep(0.1)  # the other one reads meanwhile, unless it waits its turn
            await session.execute(COUNTERS.update().where(ONE).values(value=value + 1))

    await asyncio.gather(increment(), increment())
    async with database.transaction() as session:
        assert (await session.execute(sa.select(COUNTERS.c.value).where(ONE))).scalar_one() == 2
