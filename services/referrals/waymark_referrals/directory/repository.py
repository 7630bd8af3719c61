"""Every query of the directory read-model.

Events may arrive twice or out of order: a change applies only if it is not older than the
one already applied (last write wins by event time), and a deleted service stays deleted.
"""

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.events import OrganizationChanged, ServiceChanged, ServiceDeleted

from waymark_referrals.directory.models import DirectoryOrganization, DirectoryService
from waymark_referrals.sql import upsert_insert


async def save_organization(
    session: AsyncSession, change: OrganizationChanged, changed_at: datetime
) -> None:
    insert = upsert_insert(session)(DirectoryOrganization).values(
        id=change.organization_id, name=change.name, type=change.type, country=change.country,
        verified=change.verified, changed_at=changed_at,
    )
    await session.execute(insert.on_conflict_do_update(
        index_elements=["id"],
        set_={
            name: insert.excluded[name]
            for name in ("name", "type", "country", "verified", "changed_at")
        },
        where=DirectoryOrganization.changed_at <= insert.excluded.changed_at,
    ))


async def save_service(session: AsyncSession, change: ServiceChanged, changed_at: datetime) -> None:
    insert = upsert_insert(session)(DirectoryService).values(
        id=change.service_id, organization_id=change.organization_id, status=change.status,
        accepts_referrals=change.accepts_referrals, countries=change.countries,
        categories=change.categories, response_time_hours=change.response_time_hours,
        deleted=False, changed_at=changed_at,
    )
    updated = (
        "organization_id", "status", "accepts_referrals", "countries", "categories",
        "response_time_hours", "changed_at",
    )
    await session.execute(insert.on_conflict_do_update(
        index_elements=["id"],
        set_={name: insert.excluded[name] for name in updated},
        where=DirectoryService.deleted.is_(False)
        & (DirectoryService.changed_at <= insert.excluded.changed_at),
    ))


async def delete_service(
    session: AsyncSession, deletion: ServiceDeleted, changed_at: datetime
) -> None:
    # A deletion that overtakes the creation leaves a tombstone the creation cannot revive.
    insert = upsert_insert(session)(DirectoryService).values(
        id=deletion.service_id, organization_id=deletion.organization_id, status="defunct",
        accepts_referrals=False, countries=[], categories=[], deleted=True, changed_at=changed_at,
    )
    await session.execute(insert.on_conflict_do_update(
        index_elements=["id"], set_={"deleted": True},
    ))


async def find_organization(
    session: AsyncSession, organization_id: uuid.UUID
) -> DirectoryOrganization | None:
    return await session.get(DirectoryOrganization, organization_id)


async def find_service(session: AsyncSession, service_id: uuid.UUID) -> DirectoryService | None:
    return await session.get(DirectoryService, service_id)
