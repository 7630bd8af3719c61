"""Every query of the disclosure ledger. Rows are only ever inserted."""

import uuid
from collections.abc import AsyncIterator

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_referrals.disclosures.models import Disclosure
from waymark_referrals.paging import Position

LEDGER_LOCK = 0x5741594D41524B  # one chain: appenders take turns until their transaction ends


async def last_entry_locked(session: AsyncSession) -> Disclosure | None:
    """The chain's tail, after taking the ledger's lock (PostgreSQL; SQLite has one writer)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(LEDGER_LOCK)))
    query = select(Disclosure).order_by(Disclosure.sequence.desc()).limit(1)
    return (await session.execute(query)).scalars().first()


async def list_for_case(
    session: AsyncSession, case_id: uuid.UUID, *, after: Position | None, limit: int
) -> list[Disclosure]:
    query = select(Disclosure).where(Disclosure.case_id == case_id)
    if after is not None:
        occurred_at, disclosure_id = after
        query = query.where(or_(
            Disclosure.occurred_at > occurred_at,
            and_(Disclosure.occurred_at == occurred_at, Disclosure.id > disclosure_id),
        ))
    query = query.order_by(Disclosure.occurred_at, Disclosure.id).limit(limit)
    return list((await session.execute(query)).scalars())


async def chain(session: AsyncSession, batch_size: int = 1000) -> AsyncIterator[Disclosure]:
    after = 0
    while True:
        query = (
            select(Disclosure).where(Disclosure.sequence > after)
            .order_by(Disclosure.sequence).limit(batch_size)
        )
        rows = list((await session.execute(query)).scalars())
        for row in rows:
            yield row
        if len(rows) < batch_size:
            return
        after = rows[-1].sequence
        session.expunge_all()
