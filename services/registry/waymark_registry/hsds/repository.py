"""Queries of the HSDS read API: numbered pages (HSDS paginates by page number)."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from waymark_registry.organizations.models import Organization
from waymark_registry.services import repository as services
from waymark_registry.services.models import Service, ServiceLocation
from waymark_registry.services.repository import Listed


async def external_terms(session: AsyncSession) -> list[list[dict[str, Any]]]:
    """The terms of other taxonomies of every service classified in any."""
    query = select(col(Service.external_terms)).where(
        cast(Service.external_terms, Text) != "[]"
    ).order_by(col(Service.name), col(Service.id))
    return list((await session.execute(query)).scalars())


async def _count(session: AsyncSession, query: Select[Any]) -> int:
    counted = select(func.count()).select_from(query.subquery())
    total: int = (await session.execute(counted)).scalar_one()
    return total


async def services_page(
    session: AsyncSession, *, search: str | None, organization_id: uuid.UUID | None,
    categories: set[str] | None, modified_after: datetime | None, offset: int, limit: int,
) -> tuple[int, list[Listed]]:
    conditions: list[ColumnElement[bool]] = []
    dialect = session.bind.dialect.name
    if search:
        conditions.append(services.matches_text(dialect, services.query_words(search)))
    if organization_id:
        conditions.append(col(Service.organization_id) == organization_id)
    if categories is not None:
        conditions.append(services.has_category(dialect, categories))
    if modified_after:
        conditions.append(col(Service.updated_at) > modified_after)
    query = services.listed_query().where(*conditions)
    total = await _count(session, query.with_only_columns(col(Service.id)))
    page = query.order_by(col(Service.name), col(Service.id)).offset(offset).limit(limit)
    return total, [Listed(*row) for row in await session.execute(page)]


async def services_of(session: AsyncSession, organization_id: uuid.UUID) -> list[Listed]:
    query = services.listed_query().where(col(Service.organization_id) == organization_id)
    rows = await session.execute(query.order_by(col(Service.name), col(Service.id)))
    return [Listed(*row) for row in rows]


async def organizations_page(
    session: AsyncSession, *, search: str | None, offset: int, limit: int
) -> tuple[int, list[Organization]]:
    query = select(Organization)
    if search:
        query = query.where(col(Organization.name).icontains(search, autoescape=True))
    total = await _count(session, query.with_only_columns(col(Organization.id)))
    page = query.order_by(col(Organization.name), col(Organization.id)).offset(offset).limit(limit)
    return total, list((await session.execute(page)).scalars())


async def service_locations_page(
    session: AsyncSession, *, service_id: uuid.UUID | None, offset: int, limit: int
) -> tuple[int, list[tuple[ServiceLocation, uuid.UUID]]]:
    """Locations with their service's organisation id (whose members see confidential ones)."""
    query = select(ServiceLocation, col(Service.organization_id)).join(
        Service, col(Service.id) == col(ServiceLocation.service_id)
    )
    if service_id:
        query = query.where(col(ServiceLocation.service_id) == service_id)
    total = await _count(session, query.with_only_columns(col(ServiceLocation.id)))
    page = query.order_by(col(ServiceLocation.service_id), col(ServiceLocation.position))
    rows = await session.execute(page.offset(offset).limit(limit))
    return total, [(location, organization_id) for location, organization_id in rows]
