"""Every query of the disclosure ledger. Rows are only ever inserted."""

import hashlib
import uuid
from collections.abc import AsyncIterator, Collection

from sqlalchemy import BigInteger, and_, bindparam, func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from waymark_kernel.api import TimestampPosition
from waymark_kernel.db import AnyOf, Prepared, table_of
from waymark_referrals.disclosures.models import Disclosure


def _chain_lock(case_id: uuid.UUID) -> int:
    digest = hashlib.sha256(f"disclosures/{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_LOCK_CHAIN = Prepared(
    select(func.pg_advisory_xact_lock(bindparam("lock", type_=BigInteger))), only_on="postgresql"
)
_BECOME_WRITER = text(f"UPDATE {Disclosure.__tablename__} SET sequence = sequence WHERE 0")  # noqa: S608 -- the model's own table name
_LAST = (
    select(col(Disclosure.case_id), func.max(col(Disclosure.sequence)).label("sequence"))
    .where(AnyOf(col(Disclosure.case_id), "case_ids"))
    .group_by(col(Disclosure.case_id)).subquery()
)
_HEADS = Prepared(
    select(col(Disclosure.case_id), col(Disclosure.sequence), col(Disclosure.entry_hash)).join(
        _LAST, and_(
            col(Disclosure.case_id) == _LAST.c.case_id,
            col(Disclosure.sequence) == _LAST.c.sequence,
        ),
    )
)
_APPEND = Prepared.insert_into(table_of(Disclosure))


async def chain_heads_locked(
    session: AsyncSession, case_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, str]]:
    """The sequence and hash of the last entry of each case's chain, read under locks held
    until the transaction ends: on PostgreSQL each chain's own lock; SQLite has one writer at a
    time, so this transaction first becomes it (the driver starts a transaction only at a
    write, and a read before it could see a tail that a concurrent writer is about to extend)."""
    if session.bind.dialect.name == "postgresql":
        # In a fixed order: two readers of the same cases cannot deadlock.
        for case_id in sorted(case_ids):
            await _LOCK_CHAIN.execute(session, lock=_chain_lock(case_id))
    else:
        await session.execute(_BECOME_WRITER)
    heads = await _HEADS.fetch(session, case_ids=list(case_ids))
    return {case_id: (sequence, entry_hash) for case_id, sequence, entry_hash in heads}


async def append(session: AsyncSession, entries: list[Disclosure]) -> None:
    """Written at once, as rows: the ledger never changes them, so the session need not track
    them."""
    await _APPEND.execute_many(session, [entry.model_dump() for entry in entries])


async def list_for_case(
    session: AsyncSession, case_id: uuid.UUID, *, after: TimestampPosition | None, limit: int
) -> list[Disclosure]:
    """In chain order; the cursor's entry id marks where the page starts."""
    query = select(Disclosure).where(col(Disclosure.case_id) == case_id)
    if after is not None:
        _, disclosure_id = after
        query = query.where(col(Disclosure.sequence) > select(col(Disclosure.sequence)).where(
            col(Disclosure.case_id) == case_id, col(Disclosure.id) == disclosure_id
        ).scalar_subquery())
    query = query.order_by(col(Disclosure.sequence)).limit(limit)
    return list((await session.execute(query)).scalars())


async def chains(session: AsyncSession, batch_size: int = 1000) -> AsyncIterator[Disclosure]:
    """Every entry, case by case, each case's chain in order."""
    after: tuple[uuid.UUID, int] | None = None
    while True:
        query = select(Disclosure).order_by(col(Disclosure.case_id), col(Disclosure.sequence))
        if after is not None:
            query = query.where(tuple_(col(Disclosure.case_id), col(Disclosure.sequence)) > after)
        rows = list((await session.execute(query.limit(batch_size))).scalars())
        for row in rows:
            yield row
        if len(rows) < batch_size:
            return
        after = (rows[-1].case_id, rows[-1].sequence)
        session.expunge_all()
