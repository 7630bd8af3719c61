"""Migration 0006 on SQLite and PostgreSQL: rows written before people had accounts become an
API client's acts, with the subject they recorded as the actor's id, and the ledger's chains,
hashed the way they were before, still verify."""

import asyncio
import base64
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlmodel import SQLModel

import waymark_referrals
from services.referrals.tests.conftest import Json
from waymark_kernel.clock import utcnow
from waymark_kernel.db import Database, table_of
from waymark_kernel.settings import Settings
from waymark_kernel.testing import create_database, drop_database
from waymark_referrals.actors.schemas import RecordedActor
from waymark_referrals.cases.models import Case
from waymark_referrals.comments.models import Comment
from waymark_referrals.disclosures import repository as ledger
from waymark_referrals.disclosures.models import Disclosure
from waymark_referrals.disclosures.service import GENESIS, verify_ledger
from waymark_referrals.referrals.models import Referral, ReferralTransition

MIGRATIONS = Path(waymark_referrals.__file__).parent / "migrations"
ACTOR_COLUMNS = {"actor_kind", "actor_name", "actor_name_id"}
# 0007 seals the free text of referrals and their history, with the key the migration is given.
SEALED_IN_0007 = {"referrals_referrals", "referrals_referral_transitions"}
SEALED_COLUMNS = {"key_id", "wrapped_key", "ciphertext"}
KEYED = Settings(encryption_key=base64.b64encode(os.urandom(32)).decode())


async def migrate(
    url: str, revision: str, step: Callable[[Config, str], None] = command.upgrade
) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url
    config.attributes["settings"] = KEYED
    await asyncio.to_thread(step, config, revision)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'referrals.db'}"
        return
    url = await create_database("referrals_actor_migration")
    yield url
    await drop_database(url)


def hash_before_0006(entry: Disclosure) -> str:
    """An entry's hash as the ledger computed it before readers were named."""
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


def as_before_0006(row: SQLModel, **clear_text: str) -> tuple[sa.TableClause, Json]:
    """The row's table and values without the columns 0006 and 0007 add, with the free text
    0007 seals in the clear."""
    table = table_of(type(row))
    later = ACTOR_COLUMNS | (SEALED_COLUMNS if table.name in SEALED_IN_0007 else set())
    columns = [column for column in table.columns if column.name not in later]
    clause = sa.table(
        table.name, *(sa.column(column.name, column.type) for column in columns),
        *(sa.column(name, sa.Text()) for name in clear_text),
    )
    return clause, row.model_dump(include={column.name for column in columns}) | clear_text


async def test_earlier_rows_become_a_clients_acts_and_the_ledger_still_verifies(
    database_url: str
) -> None:
    await migrate(database_url, "0005")
    now, organization_id, receiver_id = utcnow(), uuid.uuid4(), uuid.uuid4()
    case = Case(
        id=uuid.uuid4(), organization_id=organization_id, reference="NP-2026-000001",
        created_by="wm_sender", created_at=now, updated_at=now, key_id="00000000",
        wrapped_key=b"k", ciphertext=b"c",
    )
    referral = Referral(
        id=uuid.uuid4(), case_id=case.id, sender_org_id=organization_id,
        receiver_org_id=receiver_id, from_country="NP", to_country="LB",
        migration_stage="destination", categories=["legal_aid"], urgency="high",
        shared_fields=["given_name"], status="requested", response_hours=24, version=1,
        created_by="wm_sender", created_at=now, updated_at=now,
    )
    transition = ReferralTransition(
        id=uuid.uuid4(), referral_id=referral.id, to_status="requested",
        actor_subject="wm_sender", actor_org_id=organization_id, occurred_at=now,
    )
    comment = Comment(
        id=uuid.uuid4(), referral_id=referral.id, author_org_id=receiver_id,
        author_subject="wm_receiver", created_at=now,
    )
    entries, previous = [], GENESIS
    for sequence in (1, 2):
        entry = Disclosure(
            case_id=case.id, sequence=sequence, id=uuid.uuid4(), owner_org_id=organization_id,
            reader_org_id=receiver_id, reader_subject="wm_receiver", referral_id=referral.id,
            fields=["given_name"], legal_basis="consent",
            occurred_at=now + timedelta(seconds=sequence), previous_hash=previous,
            entry_hash="",
        )
        entry.entry_hash = previous = hash_before_0006(entry)
        entries.append(entry)
    database = Database(database_url)
    async with database.transaction() as session:
        for row in (case, referral, transition, comment, *entries):
            table, values = as_before_0006(row, **({"reason": "wages"} if row is referral else {}))
            await session.execute(sa.insert(table), [values])
    await database.dispose()

    await migrate(database_url, "head")
    database = Database(database_url)
    async with database.transaction() as session:
        check = await verify_ledger(session)
        migrated = [entry async for entry in ledger.chains(session)]
        acts = [
            (await session.get_one(model, key)).actor
            for model, key in ((Case, case.id), (ReferralTransition, transition.id),
                               (Comment, comment.id))
        ]
    await database.dispose()
    assert check.intact
    assert check.entries == 2
    assert [entry.actor for entry in migrated] == [RecordedActor.client("wm_receiver")] * 2
    assert acts == [
        RecordedActor(kind="client", id="wm_sender"), RecordedActor(kind="client", id="wm_sender"),
        RecordedActor(kind="client", id="wm_receiver"),
    ]

    # Back to 0005 while nobody is named; not once the ledger names a reader.
    await migrate(database_url, "0005", command.downgrade)
    await migrate(database_url, "head")
    database = Database(database_url)
    async with database.transaction() as session:
        await session.execute(sa.text(
            "UPDATE referrals_disclosures SET actor_kind = 'person' WHERE sequence = 2"
        ))
    await database.dispose()
    with pytest.raises(RuntimeError, match="name their reader"):
        await migrate(database_url, "0005", command.downgrade)
