import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.api import Page, position_after, split_page
from waymark_kernel.auth import Identity
from waymark_kernel.clock import utcnow
from waymark_kernel.events import OrganizationChanged
from waymark_kernel.messaging import record_event
from waymark_kernel.problems import Conflict, Forbidden, NotFound

from waymark_registry import EVENT_SOURCE
from waymark_registry.organizations import repository
from waymark_registry.organizations.models import Organization
from waymark_registry.organizations.schemas import (
    OrganizationCreate, OrganizationRead, OrganizationUpdate,
)
from waymark_registry.paging import BY_NAME
from waymark_registry.services import service as services


# What verification vouches for and what a person's consent is given against.
IDENTITY_FIELDS = frozenset({"name", "type", "country"})


async def _ensure_unique(session: AsyncSession, organization: Organization) -> None:
    if await repository.name_taken(session, organization):
        raise Conflict("An organisation with this name is already registered in this country.")
    is_society = organization.type == repository.NATIONAL_SOCIETY
    if is_society and await repository.national_society_exists(session, organization):
        raise Conflict("A National Society is already registered for this country.")


def changed_event(
    organization_id: uuid.UUID, fields: Organization | OrganizationCreate,
    changed: Iterable[str] = (),
) -> OrganizationChanged:
    return OrganizationChanged(
        organization_id=organization_id, name=fields.name, type=fields.type,
        country=fields.country, verified=fields.verified, email=fields.email,
        changed_fields=sorted(changed),
    )


async def announce(
    session: AsyncSession, event_type: str, organization: Organization,
    changed: Iterable[str] = (),
) -> None:
    await record_event(
        session, EVENT_SOURCE, event_type, changed_event(organization.id, organization, changed)
    )


async def create_organization(
    session: AsyncSession, identity: Identity, body: OrganizationCreate
) -> OrganizationRead:
    if not identity.is_network_admin:
        raise Forbidden("Only a network_admin may register an organisation.")
    now = utcnow()
    organization = Organization(
        **body.model_dump(mode="json"), created_at=now, updated_at=now
    )
    await _ensure_unique(session, organization)
    await repository.save(session, organization)
    await announce(session, "organization.created", organization)
    return OrganizationRead.model_validate(organization)


async def get_organization(session: AsyncSession, organization_id: uuid.UUID) -> OrganizationRead:
    organization = await repository.get(session, organization_id)
    if organization is None:
        raise NotFound("organization")
    return OrganizationRead.model_validate(organization)


async def update_organization(
    session: AsyncSession, identity: Identity, organization_id: uuid.UUID, body: OrganizationUpdate
) -> OrganizationRead:
    organization = await repository.get(session, organization_id)
    if organization is None:
        raise NotFound("organization")
    if not identity.is_admin_of(organization.id):
        raise Forbidden("Only a network_admin or this organisation's org_admin may change it.")
    changes = {
        field: value for field, value in body.model_dump(mode="json", exclude_unset=True).items()
        if getattr(organization, field) != value
    }
    if "verified" in changes and not identity.is_network_admin:
        raise Forbidden("Only a network_admin may verify an organisation or withdraw it.")
    if changes.keys() & IDENTITY_FIELDS and not identity.is_network_admin:
        raise Forbidden(
            "An organisation's name, type and country are what its verification vouches for; "
            "only a network_admin changes them."
        )
    if not changes:
        return OrganizationRead.model_validate(organization)
    for field, value in changes.items():
        setattr(organization, field, value)
    organization.updated_at = utcnow()
    with session.no_autoflush:  # the changed row must not be written before it is checked
        await _ensure_unique(session, organization)
    await repository.save(session, organization)
    await announce(session, "organization.updated", organization, changes)
    if "country" in changes:
        await services.announce_organization_moved(session, organization)
    return OrganizationRead.model_validate(organization)


async def list_organizations(
    session: AsyncSession, *, q: str | None, country: str | None, type: str | None,
    verified: bool | None, limit: int, cursor: str | None,
) -> Page[OrganizationRead]:
    organizations = await repository.search(
        session, q=q, country=country, type=type, verified=verified, limit=limit + 1,
        position=position_after(cursor, BY_NAME),
    )
    organizations, next_cursor = split_page(
        organizations, limit, lambda o: (o.name, o.id), BY_NAME
    )
    return Page(
        items=[OrganizationRead.model_validate(o) for o in organizations], next_cursor=next_cursor
    )
