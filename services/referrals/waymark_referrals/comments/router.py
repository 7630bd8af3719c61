import uuid

from fastapi import APIRouter, Response

from waymark_kernel.api import Cursor, Limit, Page
from waymark_kernel.auth import CurrentIdentity
from waymark_kernel.db import SessionDep
from waymark_referrals.comments import service
from waymark_referrals.comments.schemas import CommentCreate, CommentRead
from waymark_referrals.crypto import CipherDep

router = APIRouter(prefix="/v1/referrals", tags=["referrals"])


@router.post("/{referral_id}/comments", status_code=201)
async def add_comment(
    referral_id: uuid.UUID, body: CommentCreate, session: SessionDep, cipher: CipherDep,
    identity: CurrentIdentity, response: Response,
) -> CommentRead:
    """A message to the other party; the text is encrypted at rest and never in the event."""
    comment = await service.add_comment(session, cipher, identity, referral_id, body)
    response.headers["Location"] = f"/v1/referrals/{referral_id}/comments"
    return comment


@router.get("/{referral_id}/comments")
async def list_comments(
    referral_id: uuid.UUID, session: SessionDep, cipher: CipherDep, identity: CurrentIdentity,
    limit: Limit = 50, cursor: Cursor = None,
) -> Page[CommentRead]:
    """The conversation between sender and receiver, oldest first."""
    return await service.list_comments(
        session, cipher, identity, referral_id, cursor=cursor, limit=limit
    )
