"""The audit log of people's accounts: sign-ins and their failures, invitations, role changes,
deactivations and second-factor resets."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from waymark_gateway.audit import repository
from waymark_gateway.audit.models import AuditEntry
from waymark_gateway.audit.schemas import AuditEntryRead
from waymark_kernel.api import Page, page_of, position_after
from waymark_kernel.db import Database

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Event:
    organization_id: uuid.UUID | None
    actor: str
    action: str
    target: str | None
    address: str | None
    result: str = "success"

    def entry(self) -> AuditEntry:
        return AuditEntry(
            id=uuid.uuid4(), organization_id=self.organization_id, actor=self.actor,
            action=self.action, target=self.target, at=datetime.now(UTC),
            address=self.address, result=self.result,
        )


async def record(session: AsyncSession, event: Event) -> None:
    """In the request's transaction: kept only if the change it describes is."""
    await repository.add(session, event.entry())


async def record_apart(database: Database, event: Event) -> None:
    """In a transaction of its own: kept although the request fails (a refused sign-in)."""
    async with database.transaction() as session:
        await repository.add(session, event.entry())


async def organization_log(
    session: AsyncSession, organization_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[AuditEntryRead]:
    entries = await repository.organization_entries(
        session, organization_id, before=position_after(cursor), limit=limit + 1
    )
    return page_of(
        entries, limit, lambda entry: AuditEntryRead.model_validate(entry, from_attributes=True),
        lambda entry: (entry.at, entry.id),
    )
