import uuid
from datetime import datetime

from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from waymark_gateway.identity.models import ApiClient


async def add_client(session: AsyncSession, client: ApiClient) -> None:
    session.add(client)
    await session.flush()


async def lock_clients_of(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Until the transaction ends no other one adds a client to the organisation: a lock on
    PostgreSQL; SQLite lets one transaction write at a time anyway."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        key = organization_id.int >> 65  # fits a signed 64-bit advisory lock key
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def active_client_count(session: AsyncSession, organization_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(ApiClient).where(
        col(ApiClient.organization_id) == organization_id, col(ApiClient.revoked_at).is_(None)
    )
    count: int = (await session.execute(query)).scalar_one()
    return count


async def active_client(session: AsyncSession, client_id: str) -> ApiClient | None:
    query = select(ApiClient).where(
        col(ApiClient.client_id) == client_id, col(ApiClient.revoked_at).is_(None)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def organization_clients(
    session: AsyncSession, organization_id: uuid.UUID, *, after: str | None, limit: int
) -> list[ApiClient]:
    query = select(ApiClient).where(ApiClient.organization_id == organization_id)
    if after is not None:
        query = query.where(ApiClient.client_id > after)
    query = query.order_by(ApiClient.client_id).limit(limit)
    return list((await session.execute(query)).scalars())


async def organization_client(
    session: AsyncSession, organization_id: uuid.UUID, client_id: str
) -> ApiClient | None:
    query = select(ApiClient).where(
        ApiClient.organization_id == organization_id, ApiClient.client_id == client_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def revoked_since(session: AsyncSession, since: datetime) -> list[str]:
    query = select(col(ApiClient.client_id)).where(col(ApiClient.revoked_at) >= since)
    return list((await session.execute(query)).scalars())
