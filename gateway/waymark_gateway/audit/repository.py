import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from waymark_gateway.audit.models import AuditEntry


async def add(session: AsyncSession, entry: AuditEntry) -> None:
    session.add(entry)
    await session.flush()


async def organization_entries(
    session: AsyncSession, organization_id: uuid.UUID, *, before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.organization_id == organization_id)
    if before is not None:
        query = query.where(
            (AuditEntry.at < before[0]) | ((AuditEntry.at == before[0]) & (AuditEntry.id < before[1]))
        )
    query = query.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(limit)
    return list((await session.execute(query)).scalars())
