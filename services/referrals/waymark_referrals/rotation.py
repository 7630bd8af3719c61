"""Re-wraps the data keys of every sealed record under the current key-encryption key, so an
old key can leave the settings once no record names it. Ciphertexts stay as they are."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_referrals.actors.models import ActorName
from waymark_referrals.cases.models import Case
from waymark_referrals.comments.models import Comment
from waymark_referrals.crypto import EnvelopeCipher
from waymark_referrals.referrals.models import SharedPerson

# Each sealed table with the column its records are bound to (the associated data).
SEALED_TABLES = (
    (Case, Case.id), (SharedPerson, SharedPerson.referral_id), (Comment, Comment.id),
    (ActorName, ActorName.id),
)


async def rewrap_batch(session: AsyncSession, cipher: EnvelopeCipher, batch_size: int = 500) -> int:
    """Re-wraps up to batch_size records per table that name a previous key; returns how many."""
    rewrapped = 0
    if not cipher.previous_key_ids:
        return 0
    for table, record_column in SEALED_TABLES:
        query = (
            select(table).where(table.key_id.in_(cipher.previous_key_ids)).limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        for row in (await session.execute(query)).scalars():
            row.store(cipher.rewrap(row.sealed, record=str(getattr(row, record_column.key))))
            rewrapped += 1
    await session.flush()
    return rewrapped
