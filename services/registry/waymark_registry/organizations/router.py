import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from waymark_kernel.api import Cursor, Limit, Page
from waymark_kernel.auth import CurrentIdentity
from waymark_kernel.db import SessionDep

from waymark_registry.fields import CountryCode
from waymark_registry.organizations import service
from waymark_registry.organizations.schemas import (
    OrganizationCreate, OrganizationRead, OrganizationType, OrganizationUpdate,
)

router = APIRouter(prefix="/v1/organizations", tags=["organizations"])


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Register an organisation (network_admin)"
)
async def create_organization(
    body: OrganizationCreate, identity: CurrentIdentity, session: SessionDep, response: Response
) -> OrganizationRead:
    organization = await service.create_organization(session, identity, body)
    response.headers["Location"] = f"{router.prefix}/{organization.id}"
    return organization


@router.get("", summary="List and search organisations")
async def list_organizations(
    _identity: CurrentIdentity,
    session: SessionDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Part of the name, any case")
    ] = None,
    country: Annotated[CountryCode | None, Query()] = None,
    type: Annotated[OrganizationType | None, Query()] = None,
    verified: Annotated[
        bool | None, Query(description="Only the verified (true) or the unverified (false)")
    ] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[OrganizationRead]:
    return await service.list_organizations(
        session, q=q, country=country, type=type, verified=verified, limit=limit, cursor=cursor
    )


@router.get("/{organization_id}", summary="One organisation")
async def get_organization(
    organization_id: uuid.UUID, _identity: CurrentIdentity, session: SessionDep
) -> OrganizationRead:
    return await service.get_organization(session, organization_id)


@router.patch(
    "/{organization_id}", summary="Change an organisation (network_admin or its org_admin)",
    description=(
        "An org_admin keeps its organisation's description, website, email, phone, languages "
        "and identifiers up to date. The name, type and country are the organisation's identity: "
        "what verification vouches for and what a person's consent to share is given against "
        "(e.g. \"National Societies only\", \"only in Lebanon\"). Only a network_admin changes "
        "them, or `verified`; an org_admin's attempt is refused (403) and changes nothing. "
        "Every change is announced as `organization.updated` with the names of the changed "
        "fields, and a change of identity or verification is told to the organisation in its "
        "inbox. A second National Society in one country, or a second organisation of the same "
        "name there, is a 409 conflict."
    ),
)
async def update_organization(
    organization_id: uuid.UUID, body: OrganizationUpdate, identity: CurrentIdentity,
    session: SessionDep,
) -> OrganizationRead:
    return await service.update_organization(session, identity, organization_id, body)
