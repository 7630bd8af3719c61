from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from waymark_gateway.identity.models import ApiClient


async def add_client(session: AsyncSession, client: ApiClient) -> None:
    session.add(client)
    await session.flush()


async def active_client(session: AsyncSession, client_id: str) -> ApiClient | None:
    query = select(ApiClient).where(
        ApiClient.client_id == client_id, ApiClient.revoked_at.is_(None)
    )
    return (await session.execute(query)).scalar_one_or_none()
