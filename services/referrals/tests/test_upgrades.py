"""Upgrades: a database at each earlier revision, holding what the service wrote (cases,
consent, referrals with their history, shared data and comments, the directory read-model, the
outbox and processed events, as far as that revision's tables and columns hold them), upgraded
to the current revision, answers through the current API what it answered before.

Free text is sealed since 0007: the rows of revisions before it are those the current rows
become when 0007's downgrade opens it into the clear columns. The disclosure ledger is left out below
revision 0006: its entries were hashed differently then
(one chain for all cases before 0003, no actor before 0006); tests/disclosures and tests/actors
write ledgers in those formats and check that their migrations keep them verifiable."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import waymark_referrals
from services.referrals.tests.conftest import Flow, Json
from waymark_kernel.messaging.inprocess import InProcessBroker
from waymark_kernel.migrations import upgrade
from waymark_kernel.settings import Settings
from waymark_kernel.testing import (
    TestIssuer,
    create_database,
    downgrade,
    drop_database,
    revisions,
    table_rows,
    write_rows_as_at_revision,
)
from waymark_referrals.main import create_app

MIGRATIONS = Path(waymark_referrals.__file__).parent / "migrations"
EARLIER = revisions(MIGRATIONS)[:-1]
LEDGER = "referrals_disclosures"


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A database of this test's own: its rows are the ones written at each revision."""
    url = await create_database("referrals_upgrade")
    try:
        await upgrade(url, MIGRATIONS)
        yield url
    finally:
        await drop_database(url)


async def write_referrals(flow: Flow, revision: str) -> dict[str, Any]:
    """What the code of `revision` could write (comments came with 0002)."""
    sender, receiver, service_id = await flow.pair()
    referral = await flow.refer(sender, receiver, service_id)
    assert (await flow.move(receiver, referral, "accepted")).status_code == 200
    if revision >= "0002":
        commented = await flow.client.post(
            f"/v1/referrals/{referral['id']}/comments", headers=receiver.headers,
            json={"text": "We call her on Sunday"},
        )
        assert commented.status_code == 201, commented.text
    closed = await flow.refer(sender, receiver, service_id)
    assert (await flow.move(sender, closed, "cancelled", reason="duplicate")).status_code == 200
    return {"sender": sender, "receiver": receiver, "referrals": [referral["id"], closed["id"]],
            "case": referral["case_id"]}


async def read_referrals(client: httpx.AsyncClient, written: dict[str, Any]) -> dict[str, Any]:
    """What the sender and the receiver read (whoever acted is left aside: older revisions did
    not record the client's name)."""

    async def get(path: str, headers: dict[str, str]) -> Any:
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    sender, receiver = written["sender"].headers, written["receiver"].headers
    case = await get(f"/v1/cases/{written['case']}", sender)
    seen: dict[str, Any] = {}
    for referral_id in written["referrals"]:
        for side, headers in (("sender", sender), ("receiver", receiver)):
            referral = await get(f"/v1/referrals/{referral_id}", headers)
            seen[f"{referral_id} to {side}"] = {
                key: referral[key] for key in (
                    "status", "status_reason", "urgency", "reason", "shared_fields", "person",
                    "from_country", "to_country", "respond_by", "version", "created_at",
                )
            }
        history = await get(f"/v1/referrals/{referral_id}/history", sender)
        seen[f"{referral_id} history"] = [
            (entry["from"], entry["to"], entry["reason"]) for entry in history["items"]
        ]
        comments = await get(f"/v1/referrals/{referral_id}/comments", receiver)
        seen[f"{referral_id} comments"] = [comment["text"] for comment in comments["items"]]
    sent = await get("/v1/referrals?role=sent", sender)
    return {
        "case": {key: case[key] for key in ("reference", "person", "vulnerabilities", "consent")},
        "referrals": seen,
        "sent": sorted(item["id"] for item in sent["items"]),
    }


async def rows_in_the_clear(rows: Json, settings: Settings) -> Json:
    """The rows as revision 0006 held them, free text in the clear."""
    url = await create_database("referrals_in_the_clear")
    try:
        await upgrade(url, MIGRATIONS, settings)
        await write_rows_as_at_revision(url, rows)
        await downgrade(url, MIGRATIONS, "0006", settings)
        return await table_rows(url)
    finally:
        await drop_database(url)


@pytest.mark.parametrize("revision", EARLIER)
async def test_referrals_written_at_an_earlier_revision_read_the_same_after_the_upgrade(
    flow: Flow, settings: Settings, database_url: str, revision: str
) -> None:
    written = await write_referrals(flow, revision)
    expected = await read_referrals(flow.client, written)
    rows = await table_rows(database_url)
    if revision < "0007":
        rows = await rows_in_the_clear(rows, settings)
    if revision < "0006":
        rows[LEDGER] = []

    url = await create_database(f"referrals_at_{revision}")
    try:
        await upgrade(url, MIGRATIONS, settings, revision=revision)
        tables = await write_rows_as_at_revision(url, rows)
        assert {"referrals_cases", "referrals_referrals", "outbox"} <= set(tables)
        await upgrade(url, MIGRATIONS, settings)
        broker = InProcessBroker()
        await broker.start()
        issuer: TestIssuer = flow.network.issuer  # the tokens of the organisations still hold
        app = create_app(
            settings.model_copy(update={"referrals_database_url": url}), broker=broker,
            key_source=issuer.key_source,
        )
        try:
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
                    assert await read_referrals(client, written) == expected
        finally:
            await broker.close()
    finally:
        await drop_database(url)
