"""Re-wraps the data keys of every sealed record under the current key-encryption key, so an
old key can leave the settings once no record names it. Ciphertexts stay as they are."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_referrals.actors.models import ActorName
from waymark_referrals.cases.models import Case
from waymark_referrals.comments.models import Comment
from waymark_referrals.crypto import EnvelopeCipher
from waymark_referrals.referrals.models import (
    IdempotentRequest,
    Referral,
    ReferralTransition,
    SharedPerson,
    idempotency_record,
    texts_record,
)

# Each sealed table with what its records are bound to (the associated data).
SEALED_TABLES = (
    (Case, lambda row: str(row.id)),
    (SharedPerson, lambda row: str(row.referral_id)),
    (Comment, lambda row: str(row.id)),
    (Referral, lambda row: texts_record(row.id)),
    (ReferralTransition, lambda row: str(row.id)),
    (IdempotentRequest, lambda row: idempotency_record(row.organization_id, row.key)),
    (ActorName, lambda row: str(row.id)),
)


async def rewrap_batch(session: AsyncSession, cipher: EnvelopeCipher, batch_size: int = 500) -> int:
    """Re-wraps up to batch_size records per table that name a previous key; returns how many."""
    rewrapped = 0
    if not cipher.previous_key_ids:
        return 0
    for table, record_of in SEALED_TABLES:
        query = (
            select(table).where(table.key_id.in_(cipher.previous_key_ids)).limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        for row in (await session.execute(query)).scalars():
            row.store(cipher.rewrap(row.sealed, record=record_of(row)))
            rewrapped += 1
    await session.flush()
    return rewrapped
