import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_registry.sources.models import HsdsSource, SourceRun

RUNS_KEPT = 100  # a source's older runs are forgotten


async def all_sources(session: AsyncSession) -> list[HsdsSource]:
    query = select(HsdsSource).order_by(HsdsSource.name, HsdsSource.id)
    return list((await session.execute(query)).scalars())


async def sources_using(session: AsyncSession, crosswalk: str) -> list[HsdsSource]:
    return [source for source in await all_sources(session) if crosswalk in source.crosswalks]


async def source(
    session: AsyncSession, source_id: uuid.UUID, *, for_update: bool = False
) -> HsdsSource | None:
    query = select(HsdsSource).where(HsdsSource.id == source_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def source_of_url(session: AsyncSession, url: str) -> HsdsSource | None:
    query = select(HsdsSource).where(HsdsSource.url == url)
    return (await session.execute(query)).scalar_one_or_none()


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(HsdsSource.leased_until.is_(None), HsdsSource.leased_until < now)


async def due_sources(session: AsyncSession, now: datetime) -> list[HsdsSource]:
    query = select(HsdsSource).where(
        HsdsSource.enabled.is_(True), HsdsSource.next_run_at <= now, _free(now)
    ).order_by(HsdsSource.next_run_at, HsdsSource.id)
    return list((await session.execute(query)).scalars())


async def claim(
    session: AsyncSession, source: HsdsSource, now: datetime, next_run_at: datetime,
    leased_until: datetime,
) -> bool:
    """Whether this transaction took the due source: only one of several schedulers that saw
    it due does (the row as each saw it, compared and set in one statement)."""
    claimed = await session.execute(
        update(HsdsSource).where(
            HsdsSource.id == source.id, HsdsSource.next_run_at == source.next_run_at,
            HsdsSource.enabled.is_(True), _free(now),
        ).values(next_run_at=next_run_at, leased_until=leased_until)
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1


async def release(session: AsyncSession, source_id: uuid.UUID) -> None:
    await session.execute(
        update(HsdsSource).where(HsdsSource.id == source_id).values(leased_until=None)
        .execution_options(synchronize_session=False)
    )


async def runs_of(session: AsyncSession, source_id: uuid.UUID) -> list[SourceRun]:
    query = select(SourceRun).where(SourceRun.source_id == source_id).order_by(
        SourceRun.started_at.desc(), SourceRun.id.desc()
    )
    return list((await session.execute(query)).scalars())


async def last_runs(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, SourceRun]:
    """The latest run of each source (loading every kept run: at most RUNS_KEPT each)."""
    query = select(SourceRun).where(SourceRun.source_id.in_(ids)).order_by(
        SourceRun.started_at, SourceRun.id
    )
    return {run.source_id: run for run in (await session.execute(query)).scalars()}


async def unfinished_runs(session: AsyncSession, source_id: uuid.UUID) -> list[SourceRun]:
    query = select(SourceRun).where(
        SourceRun.source_id == source_id, SourceRun.finished_at.is_(None)
    )
    return list((await session.execute(query)).scalars())


async def forget_old_runs(session: AsyncSession, source_id: uuid.UUID) -> None:
    kept = select(SourceRun.id).where(SourceRun.source_id == source_id).order_by(
        SourceRun.started_at.desc(), SourceRun.id.desc()
    ).limit(RUNS_KEPT)
    await session.execute(
        delete(SourceRun).where(SourceRun.source_id == source_id, SourceRun.id.not_in(kept))
        .execution_options(synchronize_session=False)
    )
