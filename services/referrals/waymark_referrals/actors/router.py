import uuid

from fastapi import APIRouter

from waymark_kernel.auth import CurrentIdentity
from waymark_kernel.db import SessionDep
from waymark_referrals.actors import service
from waymark_referrals.actors.schemas import PersonErasure
from waymark_referrals.crypto import CipherDep

# Not under /v1: the gateway calls it when it deletes an account, and never forwards it.
router = APIRouter(prefix="/internal/people", tags=["internal"])


@router.post("/{person_id}/erasure")
async def erase_person(
    person_id: uuid.UUID, session: SessionDep, cipher: CipherDep, identity: CurrentIdentity
) -> PersonErasure:
    """The person's account was deleted: every name she acted under becomes her pseudonym in
    history, comments, consent records and the disclosure ledger (network_admin only)."""
    return await service.erase_person(session, cipher, identity, person_id)
