"""Rotation of the key-encryption key, on a database of its own: every record must move."""

import asyncio
import base64
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

import waymark_referrals
from services.referrals.tests.conftest import Flow, Network, waymark_command
from waymark_kernel.settings import Settings
from waymark_kernel.testing import TestIssuer, shared_database
from waymark_referrals.crypto import cipher_from_settings
from waymark_referrals.main import create_app

MIGRATIONS = Path(waymark_referrals.__file__).parent / "migrations"


@pytest.fixture(scope="module")
def database_url(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("referrals_rotation")
    with shared_database(dialect, "referrals_rotation", folder, MIGRATIONS) as url:
        yield url


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


SEALED_TABLES = (
    "referrals_cases", "referrals_shared_persons", "referrals_comments", "referrals_referrals",
    "referrals_referral_transitions", "referrals_idempotent_requests", "referrals_actor_names",
)


async def sealed_key_ids(app: FastAPI) -> set[str]:
    async with app.state.database.transaction() as session:
        return set((await session.execute(text(" UNION ".join(
            f"SELECT key_id FROM {table} WHERE key_id IS NOT NULL"
            for table in SEALED_TABLES
        )))).scalars())


async def test_rotation_rewraps_every_data_key_and_every_case_reads_back(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient, network: Network, settings: Settings,
    database_url: str, issuer: TestIssuer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender, receiver, service_id = await flow.pair()
    cases = [await flow.case(sender, person={"given_name": f"Person {n}"}) for n in range(3)]
    referral = await flow.refer(sender, receiver, service_id, case=cases[0])
    caseworker = {"Authorization": "Bearer " + issuer.token(
        sender.id, "caseworker", person=(uuid.uuid4(), "Asha Rai")
    )}
    await client.post(
        f"/v1/referrals/{referral['id']}/comments", headers=caseworker, json={"text": "hi"}
    )
    accepted = await client.post(f"/v1/referrals/{referral['id']}/transitions", headers={
        **receiver.headers, "If-Match": '"1"', "Idempotency-Key": "accept",
    }, json={"to": "accepted", "note": "We call her tomorrow"})
    assert accepted.status_code == 200, accepted.text
    old_key, current_key = settings.encryption_key, new_key()
    assert old_key is not None
    assert await sealed_key_ids(app) == {cipher_from_settings(settings).key_id}

    monkeypatch.setenv("WAYMARK_MODE", "distributed")
    monkeypatch.setenv("WAYMARK_REFERRALS_DATABASE_URL", database_url)
    monkeypatch.setenv("WAYMARK_ENCRYPTION_KEY", current_key)
    monkeypatch.setenv("WAYMARK_ENCRYPTION_PREVIOUS_KEYS", old_key)

    rotation = await asyncio.to_thread(waymark_command, "referrals", "rotate-key")
    assert rotation.returncode == 0, rotation.stderr
    rotated = settings.model_copy(update={"encryption_key": current_key})
    assert await sealed_key_ids(app) == {cipher_from_settings(rotated).key_id}

    # A process that holds only the new key reads every case, snapshot and comment.
    only_new = create_app(rotated, broker=network.broker, key_source=issuer.key_source)
    async with only_new.router.lifespan_context(only_new), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=only_new), base_url="http://referrals"
    ) as fresh:
        for case in cases:
            read = await fresh.get(f"/v1/cases/{case['id']}", headers=sender.headers)
            assert read.status_code == 200
            assert read.json()["person"] == case["person"]
        shared = await fresh.get(f"/v1/referrals/{referral['id']}", headers=receiver.headers)
        assert shared.json()["person"]["given_name"] == "Person 0"
        comments = await fresh.get(
            f"/v1/referrals/{referral['id']}/comments", headers=receiver.headers
        )
        assert [item["text"] for item in comments.json()["items"]] == ["hi"]
        assert shared.json()["reason"] == referral["reason"]
        history = await fresh.get(
            f"/v1/referrals/{referral['id']}/history", headers=receiver.headers
        )
        assert [item["note"] for item in history.json()["items"]] == [None, "We call her tomorrow"]
        assert [item["actor"]["name"] for item in comments.json()["items"]] == ["Asha Rai"]
