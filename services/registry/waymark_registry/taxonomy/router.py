from fastapi import APIRouter

from waymark_kernel.auth import CurrentIdentity
from waymark_registry.taxonomy import service
from waymark_registry.taxonomy.schemas import TaxonomyRead

router = APIRouter(prefix="/v1/taxonomy", tags=["taxonomy"])


@router.get("", summary="Service categories, with their IASC clusters")
async def get_taxonomy(_identity: CurrentIdentity) -> TaxonomyRead:
    return service.read_taxonomy()
