"""Open Referral HSDS 3.0 read API, as this network's profile. Every authenticated caller
reads the directory; confidential locations stay with their organisation."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from waymark_kernel.api import MAX_PAGE_SIZE
from waymark_kernel.auth import CurrentIdentity
from waymark_kernel.clock import UtcDateTime
from waymark_kernel.db import SessionDep

from waymark_registry.hsds import service
from waymark_registry.hsds.schemas import HsdsInfo, HsdsPage, ProfileRead
from waymark_registry.services.router import WantedLanguages

router = APIRouter(prefix="/v1/hsds", tags=["hsds"])

PageNumber = Annotated[int, Query(alias="page", ge=1, le=100_000, description="From 1")]
PerPage = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="At most 100")]
Search = Annotated[str | None, Query(max_length=200, description="Full text, any language")]


@router.get("/", summary="This API and its HSDS profile")
async def get_info(request: Request, _identity: CurrentIdentity) -> HsdsInfo:
    return service.info(str(request.base_url).rstrip("/"))


@router.get("/profile", summary="The fields this profile adds to HSDS 3.0")
async def get_profile(_identity: CurrentIdentity) -> ProfileRead:
    return service.PROFILE


@router.get("/services", summary="Services (HSDS service_list items)")
async def list_services(
    identity: CurrentIdentity, session: SessionDep, languages: WantedLanguages,
    search: Search = None,
    organization_id: Annotated[uuid.UUID | None, Query()] = None,
    taxonomy_term_id: Annotated[
        uuid.UUID | None, Query(description="Includes the terms beneath it")
    ] = None,
    modified_after: Annotated[UtcDateTime | None, Query()] = None,
    page_number: PageNumber = 1, per_page: PerPage = 50,
) -> HsdsPage:
    return await service.list_services(
        session, identity, languages, search=search, organization_id=organization_id,
        taxonomy_term_id=taxonomy_term_id, modified_after=modified_after,
        page_number=page_number, per_page=per_page,
    )


@router.get("/services/{service_id}", summary="One service, fully nested (HSDS service)")
async def get_service(
    service_id: uuid.UUID, identity: CurrentIdentity, session: SessionDep,
    languages: WantedLanguages,
) -> dict[str, Any]:
    return await service.get_service(session, identity, languages, service_id)


@router.get("/organizations", summary="Organisations (HSDS organization_list items)")
async def list_organizations(
    _identity: CurrentIdentity, session: SessionDep, search: Search = None,
    page_number: PageNumber = 1, per_page: PerPage = 50,
) -> HsdsPage:
    return await service.list_organizations(
        session, search=search, page_number=page_number, per_page=per_page
    )


@router.get("/organizations/{organization_id}", summary="One organisation with its services")
async def get_organization(
    organization_id: uuid.UUID, identity: CurrentIdentity, session: SessionDep,
    languages: WantedLanguages,
) -> dict[str, Any]:
    return await service.get_organization(session, identity, languages, organization_id)


@router.get("/service_at_locations", summary="Where services are given")
async def list_service_at_locations(
    identity: CurrentIdentity, session: SessionDep,
    service_id: Annotated[uuid.UUID | None, Query()] = None,
    page_number: PageNumber = 1, per_page: PerPage = 50,
) -> HsdsPage:
    return await service.list_service_at_locations(
        session, identity, service_id=service_id, page_number=page_number, per_page=per_page
    )


@router.get("/taxonomies", summary="The service taxonomy, and those imported services are classified in")
async def list_taxonomies(
    _identity: CurrentIdentity, session: SessionDep, page_number: PageNumber = 1,
    per_page: PerPage = 50,
) -> HsdsPage:
    return await service.list_taxonomies(session, page_number, per_page)


@router.get("/taxonomy_terms", summary="Terms of the service taxonomy, then those of other taxonomies imported services keep")
async def list_taxonomy_terms(
    _identity: CurrentIdentity, session: SessionDep,
    parent_id: Annotated[uuid.UUID | None, Query()] = None,
    page_number: PageNumber = 1, per_page: PerPage = 50,
) -> HsdsPage:
    return await service.list_taxonomy_terms(session, page_number, per_page, parent_id)
