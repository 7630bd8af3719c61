import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from waymark_kernel.api import Cursor, Limit, Page
from waymark_kernel.auth import CurrentIdentity, CurrentOrg
from waymark_kernel.db import SessionDep
from waymark_kernel.idempotency import IdempotencyKeyDep, answer_once, mark_replayed
from waymark_kernel.preconditions import ExpectedVersionDep, describe_version

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


def _describe(response: Response, referral: ReferralRead, *, replayed: bool) -> ReferralRead:
    mark_replayed(response, replayed)
    describe_version(response, referral.version)
    return referral


@router.post("", status_code=201)
async def create_referral(
    body: ReferralCreate, session: SessionDep, cipher: CipherDep, identity: CurrentIdentity,
    organization_id: CurrentOrg, response: Response, key: IdempotencyKeyDep,
) -> ReferralRead:
    """With an `Idempotency-Key`, a retry with the same body answers the same referral (for 24 h);
    the same key with another body is 422, and while the first is still in progress 409."""
    referral, replayed = await answer_once(
        session, key, body.model_dump(mode="json"),
        lambda: service.create_referral(session, cipher, identity, organization_id, body),
        service.FirstAnswers(cipher, identity),
    )
    return _created(response, referral, replayed)


def _created(response: Response, referral: ReferralRead, replayed: bool) -> ReferralRead:
    response.headers["Location"] = f"/v1/referrals/{referral.id}"
    return _describe(response, referral, replayed=replayed)


@router.post("/{referral_id}/onward", status_code=201)
async def refer_onward(
    referral_id: uuid.UUID, body: OnwardReferralCreate, session: SessionDep, cipher: CipherDep,
    identity: CurrentIdentity, organization_id: CurrentOrg, response: Response,
    key: IdempotencyKeyDep,
) -> ReferralRead:
    """The receiver refers the person on (e.g. transit → destination). The new leg links
    `parent_referral_id`, shares at most the fields this receiver was shared, and needs the case
    owner's legal basis to cover the new receiver. The parent must be accepted, in progress, on
    hold or completed."""
    referral, replayed = await answer_once(
        session, key, {"parent": str(referral_id), **body.model_dump(mode="json")},
        lambda: service.refer_onward(
            session, cipher, identity, organization_id, referral_id, body
        ),
        service.FirstAnswers(cipher, identity),
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
    referral = await service.get_referral(session, cipher, identity, referral_id)
    return _describe(response, referral, replayed=False)


@router.post("/{referral_id}/transitions")
async def transition_referral(
    referral_id: uuid.UUID, body: TransitionRequest, session: SessionDep, cipher: CipherDep,
    identity: CurrentIdentity, response: Response, expected: ExpectedVersionDep,
    key: IdempotencyKeyDep,
) -> ReferralRead:
    """Moves the referral to another status; `If-Match` must carry its current ETag. A
    rejection's `reason` is a RejectionReason code, a failure's `outcome` a FailureOutcome code
    (`other` needs a `note`). With an `Idempotency-Key` a retry answers the first response."""
    referral, replayed = await answer_once(
        session, key, {"referral": str(referral_id), **body.model_dump(mode="json")},
        lambda: service.transition(session, cipher, identity, referral_id, body, expected),
        service.FirstAnswers(cipher, identity),
    )
    return _describe(response, referral, replayed=replayed)


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
