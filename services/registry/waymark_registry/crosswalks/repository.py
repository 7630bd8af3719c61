from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_registry.crosswalks.models import StoredCrosswalk


async def all_crosswalks(session: AsyncSession) -> list[StoredCrosswalk]:
    query = select(StoredCrosswalk).order_by(StoredCrosswalk.name)
    return list((await session.execute(query)).scalars())


async def crosswalk(
    session: AsyncSession, name: str, *, for_update: bool = False
) -> StoredCrosswalk | None:
    query = select(StoredCrosswalk).where(StoredCrosswalk.name == name)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()
