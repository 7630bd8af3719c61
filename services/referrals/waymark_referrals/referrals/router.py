import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from waymark_kernel.api import Cursor, Limit, Page
from waymark_kernel.auth import CurrentIdentity, CurrentOrg
from waymark_kernel.db import SessionDep

from waymark_referrals.crypto import CipherDep
from waymark_referrals.referrals import service
from waymark_referrals.referrals.schemas import (
    OnwardReferralCreate,
    ReferralCreate,
    ReferralRead,
    TransitionRead,
    TransitionRequest,
    Urgency,
)
from waymark_referrals.referrals.states import Status
from waymark_referrals.vocabulary import Country

router = APIRouter(prefix="/v1/referrals", tags=["referrals"])
IdempotencyKey = Annotated[
    str | None, Header(min_length=1, max_length=255, description="Kept 24 hours, per organisation.")
]


def _describe(response: Response, referral: ReferralRead) -> ReferralRead:
    response.headers["ETag"] = f'"{referral.version}"'
    return referral


@router.post("", status_code=201)
async def create_referral(
    body: ReferralCreate, session: SessionDep, cipher: CipherDep, identity: CurrentIdentity,
    organization_id: CurrentOrg, response: Response, idempotency_key: IdempotencyKey = None,
) -> ReferralRead:
    """With an `Idempotency-Key`, a retry with the same body answers the same referral (for 24 h);
    the same key with another body is 422, and while the first is still in progress 409."""
    referral, replayed = await service.create_referral(
        session, cipher, identity, organization_id, body, idempotency_key
    )
    return _created(response, referral, replayed)


def _created(response: Response, referral: ReferralRead, replayed: bool) -> ReferralRead:
    response.headers["Location"] = f"/v1/referrals/{referral.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _describe(response, referral)


@router.post("/{referral_id}/onward", status_code=201)
async def refer_onward(
    referral_id: uuid.UUID, body: OnwardReferralCreate, session: SessionDep, cipher: CipherDep,
    identity: CurrentIdentity, organization_id: CurrentOrg, response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ReferralRead:
    """The receiver refers the person on (e.g. transit → destination). The new leg links
    `parent_referral_id`, shares at most the fields this receiver was shared, and needs the case
    owner's legal basis to cover the new receiver. The parent must be accepted, in progress, on
    hold or completed."""
    referral, replayed = await service.refer_onward(
        session, cipher, identity, organization_id, referral_id, body, idempotency_key
    )
    return _created(response, referral, replayed)


@router.get("")
async def list_referrals(
    session: SessionDep, cipher: CipherDep, identity: CurrentIdentity, organization_id: CurrentOrg,
    role: Literal["sent", "received"] | None = None,
    status: Annotated[list[Status] | None, Query(max_length=len(Status))] = None,
    country: Annotated[Country | None, Query(description="from or to this country")] = None,
    overdue: bool | None = None, urgency: Urgency | None = None,
    limit: Limit = 50, cursor: Cursor = None,
) -> Page[ReferralRead]:
    """The referrals the caller's organisation sent or received, newest first."""
    return await service.list_referrals(
        session, cipher, identity, organization_id, role=role, statuses=status, country=country,
        overdue=overdue, urgency=urgency, cursor=cursor, limit=limit,
    )


@router.get("/{referral_id}")
async def get_referral(
    referral_id: uuid.UUID, session: SessionDep, cipher: CipherDep, identity: CurrentIdentity,
    response: Response,
) -> ReferralRead:
    return _describe(response, await service.get_referral(session, cipher, identity, referral_id))


@router.post("/{referral_id}/transitions")
async def transition_referral(
    referral_id: uuid.UUID, body: TransitionRequest, session: SessionDep, cipher: CipherDep,
    identity: CurrentIdentity, response: Response,
    if_match: Annotated[str | None, Header(max_length=200)] = None,
    idempotency_key: IdempotencyKey = None,
) -> ReferralRead:
    """Moves the referral to another status; `If-Match` must carry its current ETag. A
    rejection's `reason` is a RejectionReason code, a failure's `outcome` a FailureOutcome code
    (`other` needs a `note`). With an `Idempotency-Key` a retry answers the first response."""
    referral, replayed = await service.transition(
        session, cipher, identity, referral_id, body, if_match, idempotency_key
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _describe(response, referral)


@router.get("/{referral_id}/history")
async def referral_history(
    referral_id: uuid.UUID, session: SessionDep, cipher: CipherDep, identity: CurrentIdentity,
    limit: Limit = 50, cursor: Cursor = None,
) -> Page[TransitionRead]:
    """Every status change, oldest first: who (`actor`: the person or the API client, and the
    organisation), when, from, to, why. The free text (`reason`, `note`, `outcome`) is the
    sender's and receiver's only, and goes with the person's shared data (see ReferralRead)."""
    return await service.history(
        session, cipher, identity, referral_id, cursor=cursor, limit=limit
    )
