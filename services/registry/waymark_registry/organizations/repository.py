import uuid
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from waymark_kernel.keyset import Keyset
from waymark_kernel.problems import Conflict

from waymark_registry.organizations.models import Organization

NATIONAL_SOCIETY = "national_society"


async def get(session: AsyncSession, organization_id: uuid.UUID) -> Organization | None:
    return await session.get(Organization, organization_id)


async def save(session: AsyncSession, organization: Organization) -> None:
    session.add(organization)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent writer won the race the checks below lost
        raise Conflict("This organisation conflicts with one registered meanwhile.") from exc


async def name_taken(session: AsyncSession, organization: Organization) -> bool:
    """Another organisation of the same country has this name, ignoring case."""
    query = select(Organization.id).where(
        Organization.country == organization.country,
        func.lower(Organization.name) == organization.name.lower(),
        Organization.id != organization.id,
    )
    return (await session.execute(query.limit(1))).first() is not None


async def national_society_exists(session: AsyncSession, organization: Organization) -> bool:
    """Another National Society is registered for this organisation's country."""
    query = select(Organization.id).where(
        Organization.country == organization.country,
        Organization.type == NATIONAL_SOCIETY,
        Organization.id != organization.id,
    )
    return (await session.execute(query.limit(1))).first() is not None


async def national_societies(
    session: AsyncSession, countries: Iterable[str]
) -> dict[str, uuid.UUID]:
    query = select(Organization.country, Organization.id).where(
        Organization.type == NATIONAL_SOCIETY, Organization.country.in_(list(countries))
    )
    return {country: identifier for country, identifier in await session.execute(query)}


_BY_NAME = Keyset(col(Organization.name), col(Organization.id))


async def search(
    session: AsyncSession,
    *,
    q: str | None,
    country: str | None,
    type: str | None,
    verified: bool | None,
    limit: int,
    position: tuple[str, uuid.UUID] | None,
) -> list[Organization]:
    """One page ordered by name then id; `q` matches part of the name, ignoring case."""
    query = _BY_NAME.page(select(Organization), position, limit)
    if q:
        query = query.where(Organization.name.icontains(q, autoescape=True))
    if country:
        query = query.where(Organization.country == country)
    if type:
        query = query.where(Organization.type == type)
    if verified is not None:
        query = query.where(Organization.verified == verified)
    return list((await session.execute(query)).scalars())
