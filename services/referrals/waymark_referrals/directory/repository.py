"""Every query of the directory read-model.

Events may arrive twice or out of order: a change applies only if it is not older than the
one already applied (last write wins by event time), and a deleted service stays deleted.
"""

import functools
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, Table
from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.db import Prepared, upsert_insert
from waymark_kernel.events import OrganizationChanged, ServiceChanged, ServiceDeleted

from waymark_referrals.directory.models import DirectoryOrganization, DirectoryService

organizations, services = DirectoryOrganization.__table__, DirectoryService.__table__


class _Writes(NamedTuple):
    save_organization: Prepared
    save_service: Prepared
    delete_service: Prepared


def _upsert(
    insert, table: Table, updated: tuple[str, ...],
    applies: Callable[[Table, object], ColumnElement[bool]] | None = None,
) -> Prepared:
    """An INSERT of every column that, when the row exists, updates `updated` where
    `applies(table, excluded)` holds."""
    statement = insert(table)
    excluded = statement.excluded
    return Prepared(statement.on_conflict_do_update(
        index_elements=["id"], set_={name: excluded[name] for name in updated},
        where=None if applies is None else applies(table, excluded),
    ), columns=tuple(table.columns.keys()))


@functools.cache
def _writes(dialect: str) -> _Writes:
    """Built once per dialect: an upsert built at every event cost more CPU than running it."""
    insert = upsert_insert(dialect)
    return _Writes(
        _upsert(insert, organizations, ("name", "type", "country", "verified", "changed_at"),
                lambda table, excluded: table.c.changed_at <= excluded.changed_at),
        _upsert(insert, services, (
            "organization_id", "status", "accepts_referrals", "countries", "categories",
            "response_time_hours", "changed_at",
        ), lambda table, excluded: table.c.deleted.is_(False)
            & (table.c.changed_at <= excluded.changed_at)),
        _upsert(insert, services, ("deleted",)),
    )


async def save_organization(
    session: AsyncSession, change: OrganizationChanged, changed_at: datetime
) -> None:
    await _writes(session.bind.dialect.name).save_organization.execute(
        session, id=change.organization_id, name=change.name, type=change.type,
        country=change.country, verified=change.verified, changed_at=changed_at,
    )


async def save_service(session: AsyncSession, change: ServiceChanged, changed_at: datetime) -> None:
    await _writes(session.bind.dialect.name).save_service.execute(
        session, id=change.service_id, organization_id=change.organization_id,
        status=change.status, accepts_referrals=change.accepts_referrals,
        countries=change.countries, categories=change.categories,
        response_time_hours=change.response_time_hours, deleted=False, changed_at=changed_at,
    )


async def delete_service(
    session: AsyncSession, deletion: ServiceDeleted, changed_at: datetime
) -> None:
    # A deletion that overtakes the creation leaves a tombstone the creation cannot revive.
    await _writes(session.bind.dialect.name).delete_service.execute(
        session, id=deletion.service_id, organization_id=deletion.organization_id,
        status="defunct", accepts_referrals=False, countries=[], categories=[],
        response_time_hours=None, deleted=True, changed_at=changed_at,
    )


async def find_organization(
    session: AsyncSession, organization_id: uuid.UUID
) -> DirectoryOrganization | None:
    return await session.get(DirectoryOrganization, organization_id)


async def find_service(session: AsyncSession, service_id: uuid.UUID) -> DirectoryService | None:
    return await session.get(DirectoryService, service_id)
