import uuid

from fastapi import APIRouter

from waymark_kernel.api import Cursor, Limit, Page
from waymark_kernel.auth import CurrentOrg
from waymark_kernel.db import SessionDep
from waymark_referrals.crypto import CipherDep
from waymark_referrals.disclosures import service
from waymark_referrals.disclosures.schemas import DisclosureRead

router = APIRouter(prefix="/v1/cases", tags=["cases"])


@router.get("/{case_id}/disclosures")
async def list_disclosures(
    case_id: uuid.UUID, session: SessionDep, cipher: CipherDep, organization_id: CurrentOrg,
    limit: Limit = 50, cursor: Cursor = None,
) -> Page[DisclosureRead]:
    """For the owning organisation: every read of this person's data by another organisation,
    and by each person, its own people too (who, when, which fields, under which referral and
    legal basis), oldest first."""
    return await service.list_disclosures(
        session, cipher, organization_id, case_id, cursor=cursor, limit=limit
    )
