"""Issue 17, finding 3: migration 0007 seals the free text of referrals written before it (on
SQLite and PostgreSQL alike); they answer as before, codes stay in the clear, a downgrade
opens them again, and without the key the migration refuses rather than guess."""

import asyncio
import base64
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

import waymark_referrals
from services.referrals.tests.conftest import Json
from waymark_kernel.clock import utcnow
from waymark_kernel.migrations import upgrade
from waymark_kernel.settings import RunMode, Settings
from waymark_kernel.testing import TestIssuer, create_database, drop_database, unique_name
from waymark_referrals.crypto import cipher_from_settings

MIGRATIONS = Path(waymark_referrals.__file__).parent / "migrations"
PHONE = "962795550199"
REASON = f"Unpaid wages; call +{PHONE}"
HOLD = f"In hospital, her cousin answers +{PHONE}"
NOTE = f"Met her at the shelter, new number +{PHONE}"
SENDER, RECEIVER = uuid.uuid4(), uuid.uuid4()
CASE, REFERRAL, REJECTED = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

# The tables as revision 0005 left them, as far as the rows below need.
metadata = sa.MetaData()
CASES = sa.Table(
    "referrals_cases", metadata, sa.Column("id", sa.Uuid()), sa.Column("organization_id", sa.Uuid()),
    sa.Column("reference", sa.String()), sa.Column("created_by", sa.String()),
    sa.Column("key_id", sa.String()), sa.Column("wrapped_key", sa.LargeBinary()),
    sa.Column("ciphertext", sa.LargeBinary()), sa.Column("created_at", sa.DateTime(True)),
    sa.Column("updated_at", sa.DateTime(True)),
)
REFERRALS = sa.Table(
    "referrals_referrals", metadata, *(sa.Column(name, sa.Uuid()) for name in (
        "id", "case_id", "sender_org_id", "receiver_org_id",
    )), *(sa.Column(name, sa.String()) for name in (
        "from_country", "to_country", "migration_stage", "urgency", "reason", "status",
        "status_reason", "outcome", "created_by",
    )), sa.Column("categories", sa.JSON()), sa.Column("shared_fields", sa.JSON()),
    sa.Column("response_hours", sa.Integer()), sa.Column("overdue_announced", sa.Boolean()),
    sa.Column("version", sa.Integer()), sa.Column("created_at", sa.DateTime(True)),
    sa.Column("updated_at", sa.DateTime(True)), sa.Column("requested_at", sa.DateTime(True)),
)
TRANSITIONS = sa.Table(
    "referrals_referral_transitions", metadata, sa.Column("id", sa.Uuid()),
    sa.Column("referral_id", sa.Uuid()), sa.Column("actor_org_id", sa.Uuid()),
    *(sa.Column(name, sa.String()) for name in (
        "from_status", "to_status", "reason", "note", "outcome", "actor_subject",
    )), sa.Column("occurred_at", sa.DateTime(True)),
)
SHARED_PERSONS = sa.Table(
    "referrals_shared_persons", metadata, sa.Column("referral_id", sa.Uuid()),
    sa.Column("key_id", sa.String()), sa.Column("wrapped_key", sa.LargeBinary()),
    sa.Column("ciphertext", sa.LargeBinary()), sa.Column("created_at", sa.DateTime(True)),
)
TRANSITION_KEYS = sa.Table(
    "referrals_transition_keys", metadata, sa.Column("organization_id", sa.Uuid()),
    sa.Column("key", sa.String()), sa.Column("request_hash", sa.String()),
    sa.Column("referral_id", sa.Uuid()), sa.Column("response", sa.JSON()),
    sa.Column("created_at", sa.DateTime(True)),
)


def referral(referral_id: uuid.UUID, status: str, status_reason: str, version: int) -> Json:
    now = utcnow()
    return {
        "id": referral_id, "case_id": CASE, "sender_org_id": SENDER, "receiver_org_id": RECEIVER,
        "from_country": "NP", "to_country": "LB", "migration_stage": "destination",
        "urgency": "high", "reason": REASON, "status": status, "status_reason": status_reason,
        "outcome": None, "created_by": "caseworker", "categories": ["legal_aid"],
        "shared_fields": [], "response_hours": 24, "overdue_announced": False,
        "version": version, "created_at": now, "updated_at": now, "requested_at": now,
    }


def transition(
    referral_id: uuid.UUID, source: str | None, target: str, seconds: int, **texts: Any
) -> Json:
    return {
        "id": uuid.uuid4(), "referral_id": referral_id, "from_status": source,
        "to_status": target, "reason": None, "note": None, "outcome": None,
        "actor_subject": "caseworker", "actor_org_id": RECEIVER,
        "occurred_at": utcnow() + timedelta(seconds=seconds), **texts,
    }


async def migrate(url: str, step: str, revision: str, settings: Settings) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url
    config.attributes["settings"] = settings
    await asyncio.to_thread(getattr(command, step), config, revision)


async def written_before_sealing(url: str, key: str) -> None:
    """Two referrals, their history and a transition key as revision 0005 stored them (0006,
    who acted, keeps them as a client's acts); the person shared with the receiver was sealed
    already."""
    await migrate(url, "upgrade", "0005", Settings())
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(CASES.insert().values(
            id=CASE, organization_id=SENDER, reference="NP-2026-000001", created_by="caseworker",
            key_id="00000000", wrapped_key=b"-", ciphertext=b"-", created_at=utcnow(),
            updated_at=utcnow(),
        ))
        await connection.execute(REFERRALS.insert(), [
            referral(REFERRAL, "on_hold", HOLD, 3), referral(REJECTED, "rejected", "other", 2),
        ])
        cipher = cipher_from_settings(Settings(encryption_key=key))
        for referral_id in (REFERRAL, REJECTED):
            shared = cipher.seal({"given_name": "Sunita"}, record=str(referral_id))
            await connection.execute(SHARED_PERSONS.insert().values(
                referral_id=referral_id, key_id=shared.key_id, wrapped_key=shared.wrapped_key,
                ciphertext=shared.ciphertext, created_at=utcnow(),
            ))
        await connection.execute(TRANSITIONS.insert(), [
            transition(REFERRAL, None, "requested", 0),
            transition(REFERRAL, "requested", "accepted", 1, note=NOTE),
            transition(REFERRAL, "accepted", "on_hold", 2, reason=HOLD),
            transition(REJECTED, None, "requested", 0),
            transition(REJECTED, "requested", "rejected", 1, reason="other", note=NOTE),
        ])
        await connection.execute(TRANSITION_KEYS.insert().values(
            organization_id=RECEIVER, key="k1", request_hash="0" * 64, referral_id=REFERRAL,
            response={"id": str(REFERRAL), "reason": REASON, "status_reason": HOLD},
            created_at=utcnow(),
        ))
    await engine.dispose()


async def stored(url: str) -> str:
    """Every value of the tables that held free text, as text (the transitions' first answers
    moved to the table of every idempotent request in 0008)."""
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        present = set(await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
        rows = [
            row for table in ("referrals_referrals", "referrals_referral_transitions",
                              "referrals_transition_keys", "referrals_idempotent_requests")
            if table in present
            for row in await connection.execute(sa.text(f"SELECT * FROM {table}"))
        ]
    await engine.dispose()
    return " ".join(
        value.decode("latin-1") if isinstance(value, bytes) else str(value)
        for row in rows for value in row
    )


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'referrals.db'}"
        return
    url = asyncio.run(create_database("referrals_migration"))
    yield url
    asyncio.run(drop_database(url))


@pytest.fixture
def settings(empty_database: str) -> Settings:
    """The service on a database whose referrals were written before 0007, migrated since."""
    key = base64.b64encode(os.urandom(32)).decode()
    settings = Settings(
        mode=RunMode.distributed, referrals_database_url=empty_database, encryption_key=key,
        queue_prefix=unique_name("referrals_migrated"), outbox_poll_seconds=0.2,
    )
    asyncio.run(written_before_sealing(empty_database, key))
    asyncio.run(upgrade(empty_database, MIGRATIONS, settings))
    return settings


async def test_finding_3_migration_seals_the_free_text_written_before_it(
    settings: Settings, empty_database: str, client: httpx.AsyncClient, issuer: TestIssuer
) -> None:
    assert PHONE not in await stored(empty_database)

    for org in (SENDER, RECEIVER):
        headers = issuer.headers(org, "caseworker")
        read = (await client.get(f"/v1/referrals/{REFERRAL}", headers=headers)).json()
        assert read["person"] == {"given_name": "Sunita"}
        history = await client.get(f"/v1/referrals/{REFERRAL}/history", headers=headers)
        rejected = await client.get(f"/v1/referrals/{REJECTED}/history", headers=headers)
        assert (read["reason"], read["status_reason"]) == (REASON, HOLD)
        assert [(item["reason"], item["note"]) for item in history.json()["items"]] == [
            (None, None), (None, NOTE), (HOLD, None),
        ]
        assert [(item["reason"], item["note"]) for item in rejected.json()["items"]] == [
            (None, None), ("other", NOTE),
        ]


async def test_finding_3_a_downgrade_opens_the_free_text_again(
    settings: Settings, empty_database: str
) -> None:
    await migrate(empty_database, "downgrade", "0006", settings)

    engine = create_async_engine(empty_database)
    async with engine.connect() as connection:
        referrals = dict((await connection.execute(
            sa.select(REFERRALS.c.id, REFERRALS.c.status_reason)
        )).tuples().all())
        notes = {row.note for row in await connection.execute(sa.select(TRANSITIONS.c.note))}
        [response] = (await connection.execute(sa.select(TRANSITION_KEYS.c.response))).scalars()
    await engine.dispose()
    assert referrals == {REFERRAL: HOLD, REJECTED: "other"}
    assert notes == {None, NOTE}
    assert response["reason"] == REASON


async def test_finding_3_without_the_key_the_migration_refuses_to_guess(
    empty_database: str,
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    await written_before_sealing(empty_database, key)

    with pytest.raises(RuntimeError, match="WAYMARK_ENCRYPTION_KEY is required"):
        await migrate(empty_database, "upgrade", "head", Settings(encryption_key=None))
    assert PHONE in await stored(empty_database)  # nothing was changed: it runs again, keyed
    await migrate(empty_database, "upgrade", "head", Settings(encryption_key=key))
    assert PHONE not in await stored(empty_database)
