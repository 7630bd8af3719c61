"""The disclosure ledger: every read of a person's data by an organisation other than the
case's owner, and every read by a person, her own organisation's too, appended to the case's
hash chain (each entry hashes its content and the previous entry's hash).

An entry names its reader (`actor`); for a person the hash covers the id of her sealed name,
never the name, so replacing it by her pseudonym leaves every chain intact."""

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.api import Page, page_of, position_after
from waymark_kernel.auth import Identity
from waymark_kernel.clock import utcnow
from waymark_kernel.problems import NotFound

from waymark_referrals.actors import service as actors
from waymark_referrals.actors.schemas import RecordedActor
from waymark_referrals.cases import repository as case_repository
from waymark_referrals.crypto import EnvelopeCipher
from waymark_referrals.disclosures import repository
from waymark_referrals.disclosures.models import Disclosure
from waymark_referrals.disclosures.schemas import DisclosureRead, LedgerCheck, PersonalRead

GENESIS = "0" * 64


def _optional(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def entry_hash(entry: Disclosure) -> str:
    content = {
        "sequence": entry.sequence, "id": str(entry.id), "case_id": str(entry.case_id),
        "owner_org_id": str(entry.owner_org_id), "reader_org_id": str(entry.reader_org_id),
        "reader_subject": entry.reader_subject, "referral_id": _optional(entry.referral_id),
        "fields": entry.fields, "legal_basis": entry.legal_basis,
        "occurred_at": entry.occurred_at.astimezone(UTC).isoformat(),
        "previous_hash": entry.previous_hash,
    }
    # Entries written before readers were named (a client, no name) hash as they always did.
    if entry.actor != RecordedActor.client(entry.reader_subject):
        content["actor"] = {
            "kind": entry.actor_kind, "name": entry.actor_name,
            "name_id": _optional(entry.actor_name_id),
        }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def record_reads(
    session: AsyncSession, cipher: EnvelopeCipher, reader: Identity,
    reads: Sequence[PersonalRead],
) -> None:
    """Appends one entry per read by someone outside the owning organisation, or by a person,
    to the chain of the read case. An organisation's own systems reading its own cases are not
    entries: people are accountable one by one, the organisation for its systems."""
    disclosed = [
        read for read in reads if reader.is_person or read.owner_org_id != reader.organization_id
    ]
    if not disclosed or reader.organization_id is None:
        return
    actor = Disclosure.acted_by(await actors.recorded(session, cipher, reader))
    heads = await repository.chain_heads_locked(session, {read.case_id for read in disclosed})
    now = utcnow()
    entries = []
    for read in disclosed:
        sequence, previous = heads.get(read.case_id, (0, GENESIS))
        entry = Disclosure(
            case_id=read.case_id, sequence=sequence + 1, id=uuid.uuid4(),
            owner_org_id=read.owner_org_id, reader_org_id=reader.organization_id,
            referral_id=read.referral_id, fields=read.fields, legal_basis=read.legal_basis,
            occurred_at=now, previous_hash=previous, entry_hash="", **actor,
        )
        entry.entry_hash = entry_hash(entry)
        heads[read.case_id] = (entry.sequence, entry.entry_hash)
        entries.append(entry)
    await repository.append(session, entries)


async def list_disclosures(
    session: AsyncSession, cipher: EnvelopeCipher, organization_id: uuid.UUID,
    case_id: uuid.UUID, *, cursor: str | None, limit: int,
) -> Page[DisclosureRead]:
    if await case_repository.find(session, organization_id, case_id) is None:
        raise NotFound("case")
    rows = await repository.list_for_case(
        session, case_id, after=position_after(cursor), limit=limit + 1
    )
    readers = iter(await actors.present(session, cipher, [row.actor for row in rows[:limit]]))
    return page_of(
        rows, limit,
        lambda row: DisclosureRead.model_validate(
            {**row.model_dump(), "actor": next(readers)}
        ),
        lambda row: (row.occurred_at, row.id),
    )


async def verify_ledger(session: AsyncSession) -> LedgerCheck:
    """Walks every case's chain: sequences from 1 without gaps, each previous_hash the hash
    before (the first one the genesis), each entry_hash the hash of the entry's content."""
    case_id, expected_sequence, previous, entries = None, 1, GENESIS, 0
    async for entry in repository.chains(session):
        if entry.case_id != case_id:
            case_id, expected_sequence, previous = entry.case_id, 1, GENESIS
        problem = (
            "an entry is missing" if entry.sequence != expected_sequence
            else "the link to the previous entry is broken" if entry.previous_hash != previous
            else "the entry was changed after it was written"
            if entry_hash(entry) != entry.entry_hash else None
        )
        if problem is not None:
            return LedgerCheck(entries, (entry.case_id, expected_sequence), problem)
        previous, expected_sequence, entries = entry.entry_hash, expected_sequence + 1, entries + 1
    return LedgerCheck(entries, None, None)
