"""Concurrent disclosures of several cases: each chain stays whole, on PostgreSQL (a lock per
chain) as on SQLite (one writer at a time)."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

import waymark_referrals
from services.referrals.tests.conftest import Flow
from waymark_kernel.migrations import upgrade
from waymark_kernel.testing import throwaway_database
from waymark_referrals.disclosures.service import verify_ledger

READERS_PER_REFERRAL = 8


@pytest.fixture
async def database_url(dialect: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own: the whole ledger is verified."""
    async with throwaway_database(dialect, "referrals_disclosures", tmp_path) as url:
        await upgrade(url, Path(waymark_referrals.__file__).parent / "migrations")
        yield url


async def test_concurrent_reads_of_several_cases_are_all_disclosed_without_errors(
    app: FastAPI, client: httpx.AsyncClient, flow: Flow
) -> None:
    sender, receiver, service_id = await flow.pair()
    referrals = [await flow.refer(sender, receiver, service_id) for _ in range(3)]

    reads = await asyncio.gather(*(
        client.get(f"/v1/referrals/{referral['id']}", headers=receiver.headers)
        for referral in referrals for _ in range(READERS_PER_REFERRAL)
    ))
    assert [read.status_code for read in reads] == [200] * len(reads), [
        read.text for read in reads if read.status_code != 200
    ]
    for referral in referrals:
        ledger = await client.get(
            f"/v1/cases/{referral['case_id']}/disclosures", headers=sender.headers
        )
        entries = ledger.json()["items"]
        assert [entry["sequence"] for entry in entries] == list(range(1, READERS_PER_REFERRAL + 1))
        assert {entry["case_id"] for entry in entries} == {referral["case_id"]}
    async with app.state.database.transaction() as session:
        check = await verify_ledger(session)
    assert check.intact
    assert check.entries == 3 * READERS_PER_REFERRAL
