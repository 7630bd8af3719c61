"""The disclosure ledger: every read of a person's data by an organisation other than the
case's owner, appended to one hash chain (each entry hashes its content and the previous hash)."""

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.api import Page
from waymark_kernel.auth import Identity
from waymark_kernel.events import utcnow

from waymark_referrals.cases import service as cases
from waymark_referrals.disclosures import repository
from waymark_referrals.disclosures.models import Disclosure
from waymark_referrals.disclosures.schemas import DisclosureRead, LedgerCheck, PersonalRead
from waymark_referrals.paging import page_of, position_after

GENESIS = "0" * 64


def entry_hash(entry: Disclosure) -> str:
    content = {
        "sequence": entry.sequence, "id": str(entry.id), "case_id": str(entry.case_id),
        "owner_org_id": str(entry.owner_org_id), "reader_org_id": str(entry.reader_org_id),
        "reader_subject": entry.reader_subject, "referral_id": str(entry.referral_id),
        "fields": entry.fields, "legal_basis": entry.legal_basis,
        "occurred_at": entry.occurred_at.astimezone(UTC).isoformat(),
        "previous_hash": entry.previous_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def record_reads(
    session: AsyncSession, reader: Identity, reads: Sequence[PersonalRead]
) -> None:
    """Appends one entry per read by someone outside the owning organisation."""
    disclosed = [read for read in reads if read.owner_org_id != reader.organization_id]
    if not disclosed or reader.organization_id is None:
        return
    tail = await repository.last_entry_locked(session)
    sequence, previous = (tail.sequence, tail.entry_hash) if tail else (0, GENESIS)
    now = utcnow()
    for read in disclosed:
        sequence += 1
        entry = Disclosure(
            sequence=sequence, id=uuid.uuid4(), case_id=read.case_id,
            owner_org_id=read.owner_org_id, reader_org_id=reader.organization_id,
            reader_subject=reader.subject, referral_id=read.referral_id, fields=read.fields,
            legal_basis=read.legal_basis, occurred_at=now, previous_hash=previous, entry_hash="",
        )
        entry.entry_hash = previous = entry_hash(entry)
        session.add(entry)
    await session.flush()


async def list_disclosures(
    session: AsyncSession, organization_id: uuid.UUID, case_id: uuid.UUID, *,
    cursor: str | None, limit: int,
) -> Page[DisclosureRead]:
    case = await cases.owned_case(session, organization_id, case_id)
    rows = await repository.list_for_case(
        session, case.id, after=position_after(cursor), limit=limit + 1
    )
    return page_of(
        rows, limit, lambda row: DisclosureRead.model_validate(row, from_attributes=True),
        lambda row: (row.occurred_at, row.id),
    )


async def verify_ledger(session: AsyncSession) -> LedgerCheck:
    """Walks the chain: sequences without gaps, each previous_hash the hash before, each
    entry_hash the hash of the entry's content."""
    expected_sequence, previous, entries = 1, GENESIS, 0
    async for entry in repository.chain(session):
        if entry.sequence != expected_sequence:
            return LedgerCheck(entries, expected_sequence, "an entry is missing")
        if entry.previous_hash != previous:
            return LedgerCheck(entries, entry.sequence, "the link to the previous entry is broken")
        if entry_hash(entry) != entry.entry_hash:
            return LedgerCheck(entries, entry.sequence, "the entry was changed after it was written")
        previous, expected_sequence, entries = entry.entry_hash, expected_sequence + 1, entries + 1
    return LedgerCheck(entries, None, None)
