import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from waymark_kernel.api import Cursor, Limit, Page
from waymark_kernel.auth import CurrentIdentity, CurrentOrg
from waymark_kernel.db import SessionDep
from waymark_referrals.cases import service
from waymark_referrals.cases.schemas import (
    CaseCreate,
    CaseRead,
    CaseUpdate,
    ConsentRecord,
    ConsentWithdrawal,
)
from waymark_referrals.crypto import CipherDep
from waymark_referrals.referrals import service as referrals
from waymark_referrals.referrals.schemas import JourneyLeg

router = APIRouter(prefix="/v1/cases", tags=["cases"])


@router.post("", status_code=201)
async def create_case(
    body: CaseCreate, session: SessionDep, cipher: CipherDep, identity: CurrentIdentity,
    organization_id: CurrentOrg, response: Response,
) -> CaseRead:
    case = await service.create_case(session, cipher, identity, organization_id, body)
    response.headers["Location"] = f"/v1/cases/{case.id}"
    return case


@router.get("")
async def list_cases(
    session: SessionDep, cipher: CipherDep, identity: CurrentIdentity,
    organization_id: CurrentOrg, limit: Limit = 50, cursor: Cursor = None,
    reference: Annotated[
        str | None, Query(max_length=32, description="e.g. NP-2026-000042")
    ] = None,
) -> Page[CaseRead]:
    """The cases of the caller's organisation, newest first. A person's read of each is in the
    case's disclosure ledger."""
    return await service.list_cases(
        session, cipher, identity, organization_id, reference=reference, cursor=cursor,
        limit=limit,
    )


@router.get("/{case_id}")
async def get_case(
    case_id: uuid.UUID, session: SessionDep, cipher: CipherDep, identity: CurrentIdentity,
    organization_id: CurrentOrg,
) -> CaseRead:
    """A person's read is in the case's disclosure ledger."""
    return await service.get_case(session, cipher, identity, organization_id, case_id)


@router.patch("/{case_id}")
async def update_case(
    case_id: uuid.UUID, body: CaseUpdate, session: SessionDep, cipher: CipherDep,
    identity: CurrentIdentity, organization_id: CurrentOrg,
) -> CaseRead:
    return await service.update_case(session, cipher, identity, organization_id, case_id, body)


@router.put("/{case_id}/consent")
async def record_consent(
    case_id: uuid.UUID, body: ConsentRecord, session: SessionDep, cipher: CipherDep,
    identity: CurrentIdentity, organization_id: CurrentOrg,
) -> CaseRead:
    """Records (or replaces) the legal basis for sharing the person's data."""
    return await service.record_consent(session, cipher, identity, organization_id, case_id, body)


@router.delete("/{case_id}/consent")
async def withdraw_consent(
    case_id: uuid.UUID, session: SessionDep, cipher: CipherDep, identity: CurrentIdentity,
    organization_id: CurrentOrg,
) -> ConsentWithdrawal:
    """Withdraws the legal basis: open referrals are cancelled (`consent_withdrawn`) and the
    person's shared data is deleted from every referral of the case."""
    return await referrals.withdraw_consent(session, cipher, identity, organization_id, case_id)


@router.get("/{case_id}/journey")
async def case_journey(
    case_id: uuid.UUID, session: SessionDep, organization_id: CurrentOrg, limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[JourneyLeg]:
    """Every referral leg of the person, oldest first, linked by `parent_referral_id`. The owning
    organisation sees the whole chain; an organisation that sent or received some legs (it knows
    the case id from its referral) sees only those legs; anyone else gets 404, the network admin
    too: the contract gives it single referrals and the network's statistics, and a person's path
    across borders is personal data that only those who helped along it need."""
    return await referrals.journey(session, organization_id, case_id, cursor=cursor, limit=limit)
