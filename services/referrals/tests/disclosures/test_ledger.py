import asyncio
import subprocess
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlmodel import col

from services.referrals.tests.conftest import Flow, Network, ProblemCheck, waymark_command
from waymark_kernel.auth import Identity
from waymark_referrals.disclosures.models import Disclosure
from waymark_referrals.disclosures.schemas import PersonalRead
from waymark_referrals.disclosures.service import record_reads, verify_ledger


async def test_every_read_by_another_organisation_is_disclosed_to_the_owner(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    sender, receiver, service_id = await flow.pair()
    referral = await flow.refer(sender, receiver, service_id)
    case_id = referral["case_id"]
    path = f"/v1/cases/{case_id}/disclosures"
    assert (await client.get(path, headers=sender.headers)).json()["items"] == []

    await client.get(f"/v1/referrals/{referral['id']}", headers=sender.headers)  # the owner
    await client.get(f"/v1/referrals/{referral['id']}", headers=receiver.headers)
    await client.get("/v1/referrals", headers=receiver.headers, params={"role": "received"})
    await flow.move(receiver, referral, "accepted")  # a GET, then the transition's answer

    ledger = await client.get(path, headers=sender.headers)
    assert ledger.status_code == 200, ledger.text
    entries = ledger.json()["items"]
    assert len(entries) == 4
    for entry in entries:
        assert entry["reader_org_id"] == str(receiver.id)
        assert entry["case_id"] == case_id
        assert entry["referral_id"] == referral["id"]
        assert entry["legal_basis"] == "consent"
        assert entry["fields"] == ["given_name", "phone", "safe_contact"]
        assert entry["reader_subject"]
        assert entry["occurred_at"]
    assert [entry["previous_hash"] for entry in entries[1:]] == [
        entry["entry_hash"] for entry in entries[:-1]
    ]
    first = await client.get(path, headers=sender.headers, params={"limit": 3})
    rest = await client.get(path, headers=sender.headers, params={"cursor": first.json()["next_cursor"]})
    assert first.json()["items"] + rest.json()["items"] == entries

    # Only the owner reads the ledger; after withdrawal nothing more is disclosed.
    for other in (receiver, await network.organization("JO")):
        problem(await client.get(path, headers=other.headers), 404)
    problem(await client.get(f"/v1/cases/{uuid.uuid4()}/disclosures", headers=sender.headers), 404)
    await client.delete(f"/v1/cases/{case_id}/consent", headers=sender.headers)
    await client.get(f"/v1/referrals/{referral['id']}", headers=receiver.headers)
    assert len((await client.get(path, headers=sender.headers)).json()["items"]) == 4


async def test_the_chain_verifies_and_one_changed_row_is_detected(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient, network: Network, database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender, receiver, service_id = await flow.pair()
    referral = await flow.refer(sender, receiver, service_id)
    for _ in range(3):
        await client.get(f"/v1/referrals/{referral['id']}", headers=receiver.headers)
    monkeypatch.setenv("WAYMARK_MODE", "distributed")
    monkeypatch.setenv("WAYMARK_REFERRALS_DATABASE_URL", database_url)

    async with app.state.database.transaction() as session:
        assert (await verify_ledger(session)).intact
        target, fields = (await session.execute(
            select(col(Disclosure.sequence), col(Disclosure.fields))
            .where(col(Disclosure.referral_id) == uuid.UUID(referral["id"]))
            .order_by(col(Disclosure.sequence)).limit(1).offset(1)
        )).one()
        entry = (col(Disclosure.case_id) == uuid.UUID(referral["case_id"])) & (
            col(Disclosure.sequence) == target
        )
        # Someone pretends that less was read than was.
        await session.execute(update(Disclosure).where(entry).values(fields=["given_name"]))
    try:
        async with app.state.database.transaction() as session:
            check = await verify_ledger(session)
        assert not check.intact
        assert check.broken_at == (uuid.UUID(referral["case_id"]), target)
        assert check.problem == "the entry was changed after it was written"
        broken = await _verify_ledger()
        assert broken.returncode == 1
        assert f"BROKEN at entry {target} of case {referral['case_id']}" in broken.stdout
    finally:
        async with app.state.database.transaction() as session:
            await session.execute(update(Disclosure).where(entry).values(fields=fields))
    intact = await _verify_ledger()
    assert intact.returncode == 0
    assert "disclosure ledger intact" in intact.stdout


async def _verify_ledger() -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(waymark_command, "referrals", "verify-ledger")


async def test_postgresql_a_read_of_one_case_waits_for_no_unfinished_disclosure_of_another(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient
) -> None:
    sender, receiver, service_id = await flow.pair()
    first = await flow.refer(sender, receiver, service_id)
    second = await flow.refer(sender, receiver, service_id)
    reader = Identity("holding-reader", receiver.id, frozenset({"caseworker"}))
    async with app.state.database.transaction() as session:
        await record_reads(session, app.state.cipher, reader, [PersonalRead(
            case_id=uuid.UUID(first["case_id"]), owner_org_id=sender.id,
            referral_id=uuid.UUID(first["id"]), fields=["given_name"], legal_basis="consent",
        )])
        # The first case's chain stays locked until this block ends; the second's is free.
        read = await asyncio.wait_for(
            client.get(f"/v1/referrals/{second['id']}", headers=receiver.headers), timeout=30
        )
        assert read.status_code == 200
        assert read.json()["person"]["given_name"] == "Sunita"
    ledgers = [
        (await client.get(f"/v1/cases/{referral['case_id']}/disclosures", headers=sender.headers))
        .json()["items"] for referral in (first, second)
    ]
    assert [len(ledger) for ledger in ledgers] == [1, 1]
    assert ledgers[0][0]["reader_subject"] == "holding-reader"
    assert all(ledger[0]["previous_hash"] == "0" * 64 for ledger in ledgers)
