"""Migration 0003 turns the one-chain ledger into a chain per case without losing an entry,
and refuses to re-chain a ledger that was tampered with."""

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import waymark_referrals
from waymark_kernel.clock import utcnow
from waymark_kernel.db import Database, table_of
from waymark_referrals.disclosures import repository
from waymark_referrals.disclosures.models import Disclosure
from waymark_referrals.disclosures.service import GENESIS, entry_hash, verify_ledger

MIGRATIONS = Path(waymark_referrals.__file__).parent / "migrations"
LEDGER_0002 = (
    "sequence", "id", "case_id", "owner_org_id", "reader_org_id", "reader_subject", "referral_id",
    "fields", "legal_basis", "occurred_at", "previous_hash", "entry_hash",
)


async def migrate(url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url
    await asyncio.to_thread(command.upgrade, config, revision)


async def one_chain_ledger(url: str, case_ids: list[uuid.UUID]) -> list[Disclosure]:
    """A ledger as revision 0002 kept it: one chain over every case, in `sequence` order."""
    await migrate(url, "0002")
    entries, previous, start = [], GENESIS, utcnow()
    for sequence, case_id in enumerate(case_ids, start=1):
        entry = Disclosure(
            case_id=case_id, sequence=sequence, id=uuid.uuid4(), owner_org_id=uuid.uuid4(),
            reader_org_id=uuid.uuid4(), reader_subject="reader", referral_id=uuid.uuid4(),
            fields=["given_name"], legal_basis="consent",
            occurred_at=start + timedelta(seconds=sequence), previous_hash=previous, entry_hash="",
        )
        entry.entry_hash = previous = entry_hash(entry)
        entries.append(entry)
    ledger = sa.table("referrals_disclosures", *(
        sa.column(column, table_of(Disclosure).c[column].type) for column in LEDGER_0002
    ))
    database = Database(url)
    async with database.transaction() as session:
        await session.execute(
            sa.insert(ledger), [entry.model_dump(include=set(LEDGER_0002)) for entry in entries]
        )
    await database.dispose()
    return entries


async def test_each_case_gets_its_own_chain_with_every_entry(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'referrals.db'}"
    first, second = uuid.uuid4(), uuid.uuid4()
    written = await one_chain_ledger(url, [first, second, first, second, first])
    await migrate(url, "head")

    database = Database(url)
    async with database.transaction() as session:
        check = await verify_ledger(session)
        entries = [entry async for entry in repository.chains(session)]
    await database.dispose()
    assert check.intact
    assert check.entries == len(written)
    chains = {case_id: [entry for entry in entries if entry.case_id == case_id]
              for case_id in (first, second)}
    assert [entry.sequence for entry in chains[first]] == [1, 2, 3]
    assert [entry.sequence for entry in chains[second]] == [1, 2]
    assert [entry.id for entry in chains[first] + chains[second]] == [
        entry.id for entry in written if entry.case_id == first
    ] + [entry.id for entry in written if entry.case_id == second]
    assert chains[second][0].previous_hash == GENESIS


async def test_a_tampered_ledger_is_not_re_chained(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'referrals.db'}"
    await one_chain_ledger(url, [uuid.uuid4(), uuid.uuid4()])
    database = Database(url)
    async with database.transaction() as session:
        await session.execute(
            sa.text("UPDATE referrals_disclosures SET fields = '[]' WHERE sequence = 1")
        )
    await database.dispose()
    with pytest.raises(RuntimeError, match="does not verify"):
        await migrate(url, "head")

