"""HSDS sources (network_admin): HSDS 3.0 APIs the registry synchronises from on a schedule,
each run recorded. A synchronisation reads the whole source first, then applies it as an
import in one transaction (`dataset.service.sync_source`): a source failing mid-way changes
nothing."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.db import Database
from waymark_kernel.clock import utcnow
from waymark_kernel.problems import Conflict, NotFound, Problem

from waymark_registry.crosswalks.service import chosen, check_names
from waymark_registry.dataset.schemas import ImportReport
from waymark_registry.dataset.service import ImportOptions, settle, sync_source
from waymark_registry.sources import repository
from waymark_registry.sources.models import HsdsSource, SourceRun
from waymark_registry.sources.publisher import Publisher, SourceGuard, UnsafeSource
from waymark_registry.sources.schemas import (
    RunReport, SourceCreate, SourceRead, SourceRunRead, SourceUpdate,
)
from waymark_registry.versions import check_if_match


def _run_read(run: SourceRun) -> SourceRunRead:
    return SourceRunRead.model_validate(run, from_attributes=True)


def _read(source: HsdsSource, last_run: SourceRun | None) -> SourceRead:
    return SourceRead(
        id=source.id, name=source.name, url=source.url, interval_minutes=source.interval_minutes,
        crosswalks=source.crosswalks, enabled=source.enabled, version=source.version,
        next_run_at=source.next_run_at, created_at=source.created_at,
        updated_at=source.updated_at, last_run=None if last_run is None else _run_read(last_run),
    )


def run_report(report: ImportReport) -> RunReport:
    return RunReport(organizations=report.organizations, services=report.services,
                     withdrawn=report.withdrawn, warnings=len(report.warnings),
                     not_kept=report.not_kept)


def checked_url(guard: SourceGuard, url: str) -> str:
    """The source's URL as its services are marked with it; 422 when it may not be called."""
    try:
        return Publisher(url, guard).base
    except UnsafeSource as unsafe:
        raise Problem(422, f"url: {unsafe}", kind="unsafe-source") from unsafe


async def _visible(session: AsyncSession, source_id: uuid.UUID) -> HsdsSource:
    source = await repository.source(session, source_id, for_update=True)
    if source is None:
        raise NotFound("HSDS source")
    return source


async def create_source(
    session: AsyncSession, guard: SourceGuard, body: SourceCreate
) -> SourceRead:
    url = checked_url(guard, body.url)
    await check_names(session, body.crosswalks)
    if await repository.source_of_url(session, url) is not None:
        raise Conflict("An HSDS source with this URL is already configured.",
                       kind="duplicate-source")
    now = utcnow()
    source = HsdsSource(
        name=body.name, url=url, interval_minutes=body.interval_minutes,
        crosswalks=body.crosswalks, enabled=body.enabled, next_run_at=now,
        created_at=now, updated_at=now,
    )
    session.add(source)
    await session.flush()
    return _read(source, None)


async def list_sources(session: AsyncSession) -> list[SourceRead]:
    sources = await repository.all_sources(session)
    last = await repository.last_runs(session, [source.id for source in sources])
    return [_read(source, last.get(source.id)) for source in sources]


async def get_source(session: AsyncSession, source_id: uuid.UUID) -> SourceRead:
    source = await repository.source(session, source_id)
    if source is None:
        raise NotFound("HSDS source")
    last = await repository.last_runs(session, [source.id])
    return _read(source, last.get(source.id))


async def update_source(
    session: AsyncSession, source_id: uuid.UUID, body: SourceUpdate, if_match: str | None
) -> SourceRead:
    source = await _visible(session, source_id)
    check_if_match(if_match, source.version, "the HSDS source")
    changes = body.model_dump(exclude_none=True)
    if "crosswalks" in changes:
        await check_names(session, changes["crosswalks"])
    changes = {key: value for key, value in changes.items() if getattr(source, key) != value}
    if changes:
        for key, value in changes.items():
            setattr(source, key, value)
        source.version += 1
        source.updated_at = utcnow()
        await session.flush()
    last = await repository.last_runs(session, [source.id])
    return _read(source, last.get(source.id))


async def delete_source(
    session: AsyncSession, source_id: uuid.UUID, if_match: str | None
) -> None:
    """Its runs go with it; the services it brought stay, still marked as its own."""
    source = await _visible(session, source_id)
    check_if_match(if_match, source.version, "the HSDS source")
    await session.delete(source)
    await session.flush()


async def request_run(session: AsyncSession, source_id: uuid.UUID) -> SourceRead:
    """Makes the source due now: the next scheduler pass synchronises it."""
    source = await _visible(session, source_id)
    source.next_run_at = utcnow()
    await session.flush()
    return await get_source(session, source_id)


async def list_runs(session: AsyncSession, source_id: uuid.UUID) -> list[SourceRunRead]:
    if await repository.source(session, source_id) is None:
        raise NotFound("HSDS source")
    return [_run_read(run) for run in await repository.runs_of(session, source_id)]


async def synchronise(
    database: Database, url: str, guard: SourceGuard, crosswalks: list[str]
) -> ImportReport:
    """Everything the HSDS API at `url` lists, read whole, then applied in one transaction.
    Raises SourceFailed (nothing read is applied) or the import's Problem (nothing changed)."""
    publisher = Publisher(url, guard)
    organizations, services = await publisher.read()
    async with database.transaction() as session:
        options = ImportOptions(crosswalk=await chosen(session, crosswalks))
        report = await sync_source(session, publisher.base, organizations, services, options)
    await settle(database.engine, report)
    return report
