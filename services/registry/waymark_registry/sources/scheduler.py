"""The registry's background synchronisation of HSDS sources: every few seconds
(`hsds_sync_check_seconds`) each due source is claimed, synchronised and its run recorded.

Replicas of the registry share the database: a source is claimed by a compare-and-set of its
next run time, so only one of them synchronises it per interval, and it is leased for as long
as a run may take, so that none starts it again meanwhile. A run still open when its source is
claimed next was cut short (its process stopped) and is recorded as failed."""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from fastapi import FastAPI
from waymark_kernel.db import Database
from waymark_kernel.clock import utcnow
from waymark_kernel.problems import Problem

from waymark_registry.sources import repository
from waymark_registry.sources.models import HsdsSource, SourceRun
from waymark_registry.sources.publisher import SourceFailed, SourceGuard
from waymark_registry.sources.service import run_report, synchronise

log = logging.getLogger("waymark.registry.sources")
# Longer than a synchronisation may take (reading a source is bounded per request, applying
# 100,000 services takes about a minute): no second scheduler starts the source meanwhile.
LEASE = timedelta(hours=1)
ERRORS_SHOWN = 20  # of an import's refusals, in a failed run's error


def _failure(problem: Problem) -> str:
    lines = [problem.detail]
    for error in problem.extra.get("errors", [])[:ERRORS_SHOWN]:
        lines.append(f"{error.get('path') or error.get('file') or ''}: {error['reason']}")
    return "\n".join(lines)


class Scheduler:
    def __init__(
        self, database: Database, guard: SourceGuard, *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.guard = guard
        self.clock = clock

    async def run_due(self) -> list[SourceRun]:
        """Synchronises, one after the other, every source due now that this scheduler
        claims; returns their runs."""
        async with self.database.transaction() as session:
            due = await repository.due_sources(session, self.clock())
        runs = []
        for source in due:
            run = await self._claim(source)
            if run is not None:
                runs.append(await self._run(source, run))
        return runs

    async def _claim(self, source: HsdsSource) -> SourceRun | None:
        now = self.clock()
        async with self.database.transaction() as session:
            next_run_at = now + timedelta(minutes=source.interval_minutes)
            if not await repository.claim(session, source, now, next_run_at, now + LEASE):
                return None
            for cut_short in await repository.unfinished_runs(session, source.id):
                cut_short.outcome, cut_short.finished_at = "failed", now
                cut_short.error = "The registry stopped during this run; nothing was changed."
            run = SourceRun(source_id=source.id, started_at=now)
            session.add(run)
        return run

    async def _run(self, source: HsdsSource, run: SourceRun) -> SourceRun:
        try:
            report = await synchronise(self.database, source.url, self.guard, source.crosswalks)
        except SourceFailed as failure:
            run.outcome, run.error = "failed", f"The source failed; nothing was changed: {failure}"
        except Problem as problem:
            run.outcome, run.error = "failed", _failure(problem)
        except Exception:
            log.exception("an HSDS source could not be synchronised", extra={"url": source.url})
            run.outcome, run.error = "failed", "An internal error; nothing was changed."
        else:
            run.outcome = "succeeded"
            run.report = run_report(report).model_dump(mode="json")
        run.finished_at = self.clock()
        async with self.database.transaction() as session:
            await session.merge(run)
            await repository.release(session, source.id)
            await repository.forget_old_runs(session, source.id)
        return run


async def schedule_syncs(app: FastAPI) -> None:
    """The background task: due sources synchronised every `hsds_sync_check_seconds`."""
    settings = app.state.settings
    scheduler = Scheduler(
        app.state.database, SourceGuard(allow_insecure=settings.hsds_source_allow_insecure)
    )
    while True:
        await asyncio.sleep(settings.hsds_sync_check_seconds)
        try:
            await scheduler.run_due()
        except Exception:
            log.exception("looking for due HSDS sources failed")
