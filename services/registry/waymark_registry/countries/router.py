from fastapi import APIRouter

from waymark_kernel.api import Page
from waymark_kernel.auth import CurrentIdentity
from waymark_kernel.db import SessionDep
from waymark_registry.countries import service
from waymark_registry.countries.schemas import CountryRead

router = APIRouter(prefix="/v1/countries", tags=["countries"])


@router.get("", summary="The programme countries and their National Societies")
async def list_countries(_identity: CurrentIdentity, session: SessionDep) -> Page[CountryRead]:
    """All fifteen on one page: `next_cursor` is always null."""
    return await service.list_countries(session)
