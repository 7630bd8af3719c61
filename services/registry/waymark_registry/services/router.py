import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status

from waymark_kernel.api import Page
from waymark_kernel.auth import CurrentIdentity
from waymark_kernel.db import ReaderDep, SessionDep
from waymark_registry.services import service
from waymark_registry.services.schemas import (
    ServiceCreate,
    ServiceHit,
    ServiceRead,
    ServiceSearch,
    ServiceUpdate,
)

router = APIRouter(prefix="/v1/services", tags=["services"])


async def _wanted_languages(  # async: FastAPI would run a plain function in a worker thread
    accept_language: Annotated[str | None, Header(
        max_length=500, description="Names and descriptions come in the best language the "
        "service has of these, else in the original",
    )] = None,
) -> list[str]:
    return service.preferred_languages(accept_language)


WantedLanguages = Annotated[list[str], Depends(_wanted_languages)]


@router.post(
    "", status_code=status.HTTP_201_CREATED,
    summary="Publish a service (org_admin of the owning organisation, or network_admin)",
)
async def create_service(
    body: ServiceCreate, identity: CurrentIdentity, session: SessionDep, response: Response,
    languages: WantedLanguages,
) -> ServiceRead:
    created = await service.create_service(session, identity, body, languages)
    response.headers["Location"] = f"{router.prefix}/{created.id}"
    return created


@router.get("", summary="Search the service directory", response_model=Page[ServiceHit])
async def search_services(
    filters: Annotated[ServiceSearch, Query()], identity: CurrentIdentity, reader: ReaderDep,
    languages: WantedLanguages,
) -> Response:
    """Ordered by name, or by distance when `lat`, `lon` and `radius_km` are given; then each
    item carries `distance_km`. Services without coordinates are left out of a radius search."""
    page = await service.search_services(reader, identity, filters, languages)
    return Response(page, media_type="application/json")


@router.get("/{service_id}", summary="One service")
async def get_service(
    service_id: uuid.UUID, identity: CurrentIdentity, session: SessionDep,
    languages: WantedLanguages,
) -> ServiceRead:
    return await service.get_service(session, identity, service_id, languages)


@router.patch("/{service_id}", summary="Change a service")
async def update_service(
    service_id: uuid.UUID, body: ServiceUpdate, identity: CurrentIdentity, session: SessionDep,
    languages: WantedLanguages,
) -> ServiceRead:
    return await service.update_service(session, identity, service_id, body, languages)


@router.post(
    "/{service_id}/confirmation",
    summary="Confirm the service's details are still true (org_admin of the owner, or "
    "network_admin); a service not confirmed for 180 days is flagged stale",
)
async def confirm_service(
    service_id: uuid.UUID, identity: CurrentIdentity, session: SessionDep,
    languages: WantedLanguages,
) -> ServiceRead:
    return await service.confirm_service(session, identity, service_id, languages)


@router.delete(
    "/{service_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Withdraw a service"
)
async def delete_service(
    service_id: uuid.UUID, identity: CurrentIdentity, session: SessionDep
) -> None:
    await service.delete_service(session, identity, service_id)
