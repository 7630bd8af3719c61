"""Standalone mode's SQLite file: a person's name is nowhere in it in the clear, and her
erasure leaves a pseudonym and a ledger that verifies."""

import base64
import os
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

import waymark_referrals
from services.referrals.tests.conftest import Flow, Json
from waymark_kernel.migrations import upgrade
from waymark_kernel.settings import RunMode, Settings
from waymark_kernel.testing import TestIssuer, unique_name
from waymark_referrals.disclosures.service import verify_ledger


@pytest.fixture
async def database_file(tmp_path: Path) -> Path:
    return tmp_path / "referrals.db"


@pytest.fixture
async def settings(database_file: Path) -> Settings:
    url = f"sqlite+aiosqlite:///{database_file}"
    await upgrade(url, Path(waymark_referrals.__file__).parent / "migrations")
    return Settings(
        mode=RunMode.distributed, referrals_database_url=url,
        encryption_key=base64.b64encode(os.urandom(32)).decode(),
        queue_prefix=unique_name("referrals_sqlite"), outbox_poll_seconds=0.2,
    )


def stored_bytes(database_file: Path) -> bytes:
    """The database file and its write-ahead log, as they are on disk."""
    files = [database_file, database_file.with_name(database_file.name + "-wal")]
    return b"".join(file.read_bytes() for file in files if file.exists())


async def test_a_persons_name_is_sealed_on_disk_and_her_erasure_keeps_the_ledger(
    app: FastAPI, client: httpx.AsyncClient, flow: Flow, issuer: TestIssuer, consent: Json,
    database_file: Path,
) -> None:
    sender, receiver, service_id = await flow.pair()
    asha_id, asha = uuid.uuid4(), f"Asha Rai {uuid.uuid4().hex[:6]}"
    headers = {"Authorization": "Bearer " + issuer.token(
        sender.id, "caseworker", person=(asha_id, asha)
    )}
    case = (await client.post("/v1/cases", headers=headers, json={
        "person": {"given_name": "Sunita"},
    })).json()
    await client.put(f"/v1/cases/{case['id']}/consent", headers=headers, json=consent)
    referral = await client.post(
        "/v1/referrals", headers=headers, json=flow.referral_body(case, receiver, service_id)
    )
    assert referral.status_code == 201, referral.text
    await client.post(
        f"/v1/referrals/{referral.json()['id']}/comments", headers=headers, json={"text": "hi"}
    )
    await client.get(f"/v1/cases/{case['id']}", headers=headers)
    entries = (await client.get(
        f"/v1/cases/{case['id']}/disclosures", headers=headers
    )).json()["items"]
    assert [entry["actor"]["name"] for entry in entries] == [asha] * 3
    assert asha.encode() not in stored_bytes(database_file)

    admin = {"Authorization": f"Bearer {issuer.token(None, 'network_admin')}"}
    erased = await client.post(f"/internal/people/{asha_id}/erasure", headers=admin)
    assert erased.status_code == 200, erased.text
    pseudonym = erased.json()["pseudonym"]
    history = (await client.get(
        f"/v1/referrals/{referral.json()['id']}/history", headers=headers
    )).json()["items"]
    assert [item["actor"]["name"] for item in history] == [pseudonym]
    read = (await client.get(f"/v1/cases/{case['id']}", headers=headers)).json()
    assert read["created_by"]["name"] == read["consent"]["actor"]["name"] == pseudonym
    async with app.state.database.transaction() as session:
        check = await verify_ledger(session)
    assert check.intact
    assert check.entries == 4
