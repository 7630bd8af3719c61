"""Re-wraps the data keys of every sealed record under the current key-encryption key, so an
old key can leave the settings once no record names it. Ciphertexts stay as they are."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from waymark_referrals.actors.models import ActorName
from waymark_referrals.cases.models import Case
from waymark_referrals.comments.models import Comment
from waymark_referrals.crypto import EnvelopeCipher, ErasableSealedColumns, SealedColumns
from waymark_referrals.referrals.models import (
    IdempotentRequest,
    Referral,
    ReferralTransition,
    SharedPerson,
    idempotency_record,
    texts_record,
)

Row = TypeVar("Row", bound=SealedColumns | ErasableSealedColumns)


@dataclass(frozen=True)
class SealedTable(Generic[Row]):
    """A table of sealed records, with what each record is bound to (the associated data)."""

    model: type[Row]
    record_of: Callable[[Row], str]

    async def rewrap(self, session: AsyncSession, cipher: EnvelopeCipher, batch_size: int) -> int:
        """Re-wraps up to batch_size records that name a previous key; returns how many."""
        query = (
            select(self.model).where(col(self.model.key_id).in_(cipher.previous_key_ids))
            .limit(batch_size).with_for_update(skip_locked=True)
        )
        rows = list((await session.execute(query)).scalars())
        for row in rows:
            sealed = row.sealed
            if sealed is None:  # its key_id names a key, so the other columns hold the rest
                raise ValueError(f"{self.model.__name__} {self.record_of(row)} is sealed in part")
            row.store(cipher.rewrap(sealed, record=self.record_of(row)))
        return len(rows)


SEALED_TABLES = (
    SealedTable(Case, lambda row: str(row.id)),
    SealedTable(SharedPerson, lambda row: str(row.referral_id)),
    SealedTable(Comment, lambda row: str(row.id)),
    SealedTable(Referral, lambda row: texts_record(row.id)),
    SealedTable(ReferralTransition, lambda row: str(row.id)),
    SealedTable(
        IdempotentRequest, lambda row: idempotency_record(row.organization_id, row.key)
    ),
    SealedTable(ActorName, lambda row: str(row.id)),
)


async def rewrap_batch(session: AsyncSession, cipher: EnvelopeCipher, batch_size: int = 500) -> int:
    """Re-wraps up to batch_size records per table that name a previous key; returns how many."""
    if not cipher.previous_key_ids:
        return 0
    rewrapped = 0
    for table in SEALED_TABLES:
        rewrapped += await table.rewrap(session, cipher, batch_size)
    await session.flush()
    return rewrapped
