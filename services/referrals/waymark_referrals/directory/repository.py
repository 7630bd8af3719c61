"""Every query of the directory read-model.

Events may arrive twice or out of order: a change applies only if it is not older than the
one already applied (last write wins by event time), and a deleted service stays deleted.
"""

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.elements import KeyedColumnElement

from waymark_kernel.db import Upsert, table_of
from waymark_kernel.events import OrganizationChanged, ServiceChanged, ServiceDeleted
from waymark_referrals.directory.models import DirectoryOrganization, DirectoryService

organizations, services = table_of(DirectoryOrganization), table_of(DirectoryService)
DialectInsert = postgresql.Insert | sqlite.Insert
Excluded = ReadOnlyColumnCollection[str, KeyedColumnElement[Any]]  # the new row's columns


def _updating(
    *columns: str, where: Callable[[Excluded], ColumnElement[bool]] | None = None
) -> Callable[[DialectInsert], DialectInsert]:
    """The ON CONFLICT (id) clause that sets `columns` from the new row where `where(excluded)`
    holds."""
    def conflict(insert: DialectInsert) -> DialectInsert:
        excluded = insert.excluded
        return insert.on_conflict_do_update(
            index_elements=["id"], set_={name: excluded[name] for name in columns},
            where=None if where is None else where(excluded),
        )
    return conflict


_SAVE_ORGANIZATION = Upsert(organizations, _updating(
    "name", "type", "country", "verified", "changed_at",
    where=lambda excluded: organizations.c.changed_at <= excluded.changed_at,
))
_SAVE_SERVICE = Upsert(services, _updating(
    "organization_id", "status", "accepts_referrals", "countries", "categories",
    "response_time_hours", "changed_at",
    where=lambda excluded: services.c.deleted.is_(False)
    & (services.c.changed_at <= excluded.changed_at),
))
_DELETE_SERVICE = Upsert(services, _updating("deleted"))


async def save_organization(
    session: AsyncSession, change: OrganizationChanged, changed_at: datetime
) -> None:
    await _SAVE_ORGANIZATION.of(session).execute(
        session, id=change.organization_id, name=change.name, type=change.type,
        country=change.country, verified=change.verified, changed_at=changed_at,
    )


async def save_service(session: AsyncSession, change: ServiceChanged, changed_at: datetime) -> None:
    await _SAVE_SERVICE.of(session).execute(
        session, id=change.service_id, organization_id=change.organization_id,
        status=change.status, accepts_referrals=change.accepts_referrals,
        countries=change.countries, categories=change.categories,
        response_time_hours=change.response_time_hours, deleted=False, changed_at=changed_at,
    )


async def delete_service(
    session: AsyncSession, deletion: ServiceDeleted, changed_at: datetime
) -> None:
    # A deletion that overtakes the creation leaves a tombstone the creation cannot revive.
    await _DELETE_SERVICE.of(session).execute(
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
