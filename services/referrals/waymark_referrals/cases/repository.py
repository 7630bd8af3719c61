"""Every query of cases."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from waymark_kernel.api import TimestampPosition
from waymark_kernel.db import Upsert, table_of
from waymark_kernel.keyset import Keyset
from waymark_referrals.cases.models import Case, CaseSequence

_NEXT_NUMBER = Upsert(table_of(CaseSequence), lambda insert: insert.on_conflict_do_update(
    index_elements=["organization_id", "country", "year"],
    set_={"last_value": insert.table.c.last_value + 1},
).returning(insert.table.c.last_value))


async def next_case_number(
    session: AsyncSession, organization_id: uuid.UUID, country: str, year: int
) -> int:
    number: int
    (number,), = await _NEXT_NUMBER.of(session).fetch(
        session, organization_id=organization_id, country=country, year=year, last_value=1
    )
    return number


async def find(
    session: AsyncSession, organization_id: uuid.UUID, case_id: uuid.UUID, *,
    for_update: bool = False,
) -> Case | None:
    case = await session.get(Case, case_id, with_for_update=for_update)
    return case if case is not None and case.organization_id == organization_id else None


_NEWEST_FIRST = Keyset(col(Case.created_at), col(Case.id), descending=True)


async def list_cases(
    session: AsyncSession, organization_id: uuid.UUID, *, reference: str | None,
    after: TimestampPosition | None, limit: int,
) -> list[Case]:
    query = select(Case).where(col(Case.organization_id) == organization_id)
    if reference is not None:
        query = query.where(col(Case.reference) == reference)
    query = _NEWEST_FIRST.page(query, after, limit)
    return list((await session.execute(query)).scalars())

