"""Prepared statements and bulk inserts: the same results through asyncpg itself (COPY, for a
bulk insert) as through SQLAlchemy, inside the session's transaction."""

import uuid

import pytest
import sqlalchemy as sa

from waymark_kernel.db import AnyOf, Database, Prepared, insert_rows

NOTES = sa.Table(
    "prepared_notes", sa.MetaData(),
    sa.Column("id", sa.Uuid, primary_key=True), sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("data", sa.JSON, nullable=False), sa.Column("state", sa.String(10), nullable=False),
)
ADD = Prepared(sa.insert(NOTES), columns=("id", "rank", "data", "state"))
OF = Prepared(
    sa.select(NOTES.c.id, NOTES.c.rank, NOTES.c.data).where(AnyOf(NOTES.c.id, "ids"))
    .order_by(NOTES.c.rank)
)
BUMP_OTHERS = Prepared(
    sa.update(NOTES).where(~AnyOf(NOTES.c.id, "ids"))
    .values(state="bumped", rank=NOTES.c.rank + sa.bindparam("by"))
    .returning(NOTES.c.id, NOTES.c.rank)
)
COUNT = Prepared(sa.select(sa.func.count()).select_from(NOTES))
# Parameters named like columns: SQLAlchemy takes such a value for the column's SET clause.
RESTATE = Prepared(
    sa.update(NOTES).where(NOTES.c.id == sa.bindparam("id"))
    .values(state=sa.bindparam("state"), rank=NOTES.c.rank + 1)
    .returning(NOTES.c.rank, NOTES.c.data)
)


@pytest.fixture
async def notes(database: Database) -> Database:
    async with database.engine.begin() as connection:
        await connection.run_sync(NOTES.metadata.create_all)
    return database


async def test_rows_go_in_and_come_back_by_a_list_of_ids_with_json_decoded(notes: Database) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    async with notes.transaction() as session:
        await ADD.execute_many(session, [
            {"id": note_id, "rank": rank, "data": {"rank": rank, "tags": ["a"]}, "state": "new"}
            for rank, note_id in enumerate(ids)
        ])
        assert [tuple(row) for row in await OF.fetch(session, ids=ids[:2])] == [
            (ids[0], 0, {"rank": 0, "tags": ["a"]}), (ids[1], 1, {"rank": 1, "tags": ["a"]}),
        ]
        assert [tuple(row) for row in await BUMP_OTHERS.fetch(session, ids=ids[:2], by=10)] == [
            (ids[2], 12),
        ]
        assert await OF.fetch(session, ids=[]) == []
    async with notes.transaction() as session:
        states = (await session.execute(sa.select(NOTES.c.state).order_by(NOTES.c.rank))).scalars()
        assert list(states) == ["new", "new", "bumped"]


async def test_a_rolled_back_transaction_keeps_nothing_even_when_prepared_runs_first(notes: Database) -> None:
    with pytest.raises(RuntimeError):  # noqa: PT012 -- the transaction must fail after its writes
        async with notes.transaction() as session:
            await ADD.execute(session, id=uuid.uuid4(), rank=1, data={}, state="new")
            await ADD.execute(session, id=uuid.uuid4(), rank=2, data={}, state="new")
            raise RuntimeError("the handler failed")
    async with notes.transaction() as session:
        assert (await COUNT.fetch(session))[0][0] == 0


async def test_bulk_rows_go_in_with_the_transaction_even_as_its_first_statement(notes: Database) -> None:
    rows = [{"id": uuid.uuid4(), "rank": rank, "data": {"rank": rank}, "state": "new"}
            for rank in range(1200)]
    with pytest.raises(RuntimeError):  # noqa: PT012 -- the transaction must fail after its writes
        async with notes.transaction() as session:
            await insert_rows(session, NOTES, [dict(row) for row in rows])
            raise RuntimeError("the import failed")
    async with notes.transaction() as session:
        assert (await COUNT.fetch(session))[0][0] == 0
        await insert_rows(session, NOTES, [dict(row) for row in rows])
    async with notes.transaction() as session:
        assert [tuple(row) for row in await OF.fetch(session, ids=[rows[7]["id"]])] == [
            (rows[7]["id"], 7, {"rank": 7}),
        ]
        assert (await COUNT.fetch(session))[0][0] == 1200


async def test_values_named_like_columns_bind_the_statements_own_parameters(notes: Database) -> None:
    ids = [uuid.uuid4() for _ in range(2)]
    async with notes.transaction() as session:
        await ADD.execute_many(session, [
            {"id": note_id, "rank": rank, "data": {"rank": rank}, "state": "new"}
            for rank, note_id in enumerate(ids)
        ])
        assert [tuple(row) for row in await RESTATE.fetch(session, id=ids[1], state="moved")] == [
            (2, {"rank": 1}),
        ]
    async with notes.transaction() as session:
        rows = await session.execute(sa.select(NOTES.c.id, NOTES.c.rank, NOTES.c.state))
        assert sorted(rows, key=lambda row: row.rank) == [(ids[0], 0, "new"), (ids[1], 2, "moved")]
