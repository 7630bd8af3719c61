"""Issue 17, finding 3: caseworkers write about the person in every free-text box of a referral
(its reason, an onward leg's, a transition's reason, note and outcome, a comment), so none of it
is stored in the clear, in any table, nor logged: the database holds it sealed, the sender and
the receiver read it, and it leaves with the person's shared data (withdrawal, retention). Codes (a rejection reason, `consent_withdrawn`) stay
readable: they say nothing of the person."""

import base64
import logging
import os
import uuid
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import inspect, select, text
from sqlmodel import col

from services.referrals.tests.conftest import Flow, Json, Network, Org
from waymark_kernel.clock import utcnow
from waymark_kernel.settings import RunMode, Settings
from waymark_kernel.testing import TestIssuer, unique_name
from waymark_referrals.referrals import service
from waymark_referrals.referrals.models import Referral, ReferralTransition

PHONE = "962795550199"
REASON = f"Unpaid wages; call +{PHONE} after 6 pm"
HOLD = f"In hospital until Monday, her cousin answers +{PHONE}"
NOTE = f"Spoke with her at the shelter, new number +{PHONE}"
OUTCOME = f"Back pay recovered; she can be reached at +{PHONE}"
RETENTION = timedelta(days=90)


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The service on each database it runs on (the suite's dialect fixture), with a key of its
    own and its own queues."""
    return Settings(
        mode=RunMode.distributed, referrals_database_url=database_url,
        encryption_key=base64.b64encode(os.urandom(32)).decode(),
        queue_prefix=unique_name("referrals_texts"), outbox_poll_seconds=0.2,
    )


async def every_table(app: FastAPI) -> list[str]:
    """The tables the database holds now: one added later is searched too."""
    async with app.state.database.transaction() as session:
        connection = await session.connection()
        tables: list[str] = await connection.run_sync(
            lambda sync: inspect(sync).get_table_names()
        )
        return tables


async def stored(app: FastAPI, table: str) -> str:
    """Every value of every row of the table, as text (bytes read as Latin-1)."""
    async with app.state.database.transaction() as session:
        rows = (await session.execute(text(f"SELECT * FROM {table}"))).all()
    return " ".join(
        value.decode("latin-1") if isinstance(value, bytes) else str(value)
        for row in rows for value in row
    )


async def free_text_of(
    client: httpx.AsyncClient, referral: Json, org: Org
) -> tuple[Json, list[Json]]:
    """What the organisation reads of the referral and of its history."""
    read = await client.get(f"/v1/referrals/{referral['id']}", headers=org.headers)
    history = await client.get(f"/v1/referrals/{referral['id']}/history", headers=org.headers)
    assert read.status_code == history.status_code == 200, (read.text, history.text)
    return (
        {field: read.json()[field] for field in ("reason", "status_reason", "outcome")},
        [{field: item[field] for field in ("to", "reason", "note", "outcome")}
         for item in history.json()["items"]],
    )


async def test_finding_3_free_text_is_sealed_at_rest_and_read_by_sender_and_receiver(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient, network: Network, issuer: TestIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sender, receiver, service_id = await flow.pair()
    referral = await flow.refer(sender, receiver, service_id, reason=REASON)
    assert (await flow.move(receiver, referral, "accepted", note=NOTE)).status_code == 200
    onward = await client.post(
        f"/v1/referrals/{referral['id']}/onward", headers=receiver.headers, json={
            "receiver_org_id": str((await network.organization("JO", type="cso")).id),
            "migration_stage": "destination", "reason": REASON,
        },
    )
    commented = await client.post(
        f"/v1/referrals/{referral['id']}/comments", headers=sender.headers, json={"text": NOTE}
    )
    assert (onward.status_code, commented.status_code) == (201, 201), (onward.text, commented.text)
    assert (await flow.move(receiver, referral, "on_hold", reason=HOLD)).status_code == 200
    current = await client.get(f"/v1/referrals/{referral['id']}", headers=receiver.headers)
    keyed = {**receiver.headers, "If-Match": current.headers["ETag"], "Idempotency-Key": "k1"}
    completion = {"to": "completed", "outcome": OUTCOME}
    transitions = f"/v1/referrals/{referral['id']}/transitions"
    completed = await client.post(transitions, headers=keyed, json=completion)
    replayed = await client.post(transitions, headers=keyed, json=completion)
    rejected = await flow.refer(sender, receiver, service_id, reason=REASON)
    assert (await flow.move(
        receiver, rejected, "rejected", reason="other", note=NOTE
    )).status_code == 200

    assert completed.status_code == replayed.status_code == 200, replayed.text
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json()["outcome"] == completed.json()["outcome"] == OUTCOME
    tables = await every_table(app)
    assert {"referrals_referrals", "referrals_referral_transitions", "outbox"} <= set(tables)
    for table in tables:
        assert PHONE not in await stored(app, table), table
    assert PHONE not in caplog.text
    assert "other" in await stored(app, "referrals_referral_transitions")  # a code, in the clear
    for org in (sender, receiver):
        assert await free_text_of(client, referral, org) == (
            {"reason": REASON, "status_reason": None, "outcome": OUTCOME},
            [
                {"to": "requested", "reason": None, "note": None, "outcome": None},
                {"to": "accepted", "reason": None, "note": NOTE, "outcome": None},
                {"to": "on_hold", "reason": HOLD, "note": None, "outcome": None},
                {"to": "completed", "reason": None, "note": None, "outcome": OUTCOME},
            ],
        )
        assert await free_text_of(client, rejected, org) == (
            {"reason": REASON, "status_reason": "other", "outcome": None},
            [
                {"to": "requested", "reason": None, "note": None, "outcome": None},
                {"to": "rejected", "reason": "other", "note": NOTE, "outcome": None},
            ],
        )
        listed = await client.get("/v1/referrals", headers=org.headers)
        assert {item["reason"] for item in listed.json()["items"]} == {REASON}
    # The network admin oversees referrals, not what is written about the person.
    admin = issuer.headers(None, "network_admin")
    overseen = await client.get(f"/v1/referrals/{rejected['id']}", headers=admin)
    assert overseen.status_code == 200
    assert (overseen.json()["reason"], overseen.json()["status_reason"]) == (None, "other")


async def test_finding_3_withdrawn_consent_takes_the_free_text_with_the_persons_data(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient, network: Network
) -> None:
    origin = await network.organization("NP")
    transit = await network.organization("LB", type="cso")
    destination = await network.organization("JO", type="cso")
    first = await flow.refer(origin, transit, await network.service(transit), reason=REASON)
    assert (await flow.move(transit, first, "accepted", note=NOTE)).status_code == 200
    onward = await client.post(f"/v1/referrals/{first['id']}/onward", headers=transit.headers, json={
        "receiver_org_id": str(destination.id), "migration_stage": "destination",
        "reason": HOLD, "shared_fields": ["given_name"],
    })
    assert onward.status_code == 201, onward.text
    onward = onward.json()
    assert (await flow.move(destination, onward, "accepted", note=NOTE)).status_code == 200

    withdrawn = await client.delete(f"/v1/cases/{first['case_id']}/consent", headers=origin.headers)
    assert withdrawn.status_code == 200, withdrawn.text

    # The owner keeps what it wrote and was told; the receiver keeps the code, not the text.
    owner_reads, owner_history = await free_text_of(client, first, origin)
    assert owner_reads == {"reason": REASON, "status_reason": "consent_withdrawn", "outcome": None}
    assert [item["note"] for item in owner_history] == [None, NOTE, None]
    transit_reads, transit_history = await free_text_of(client, first, transit)
    assert transit_reads == {"reason": None, "status_reason": "consent_withdrawn", "outcome": None}
    assert [(item["reason"], item["note"]) for item in transit_history] == [
        (None, None), (None, None), ("consent_withdrawn", None),
    ]
    for reader in (transit, destination):
        reads, history = await free_text_of(client, onward, reader)
        assert reads["reason"] is None
        assert {item["note"] for item in history} == {None}
    # Nobody may read the onward leg's free text any more: it is gone from the database.
    onward_id = uuid.UUID(onward["id"])
    async with app.state.database.transaction() as session:
        sealed = [*await session.scalars(
            select(col(Referral.ciphertext)).where(col(Referral.id) == onward_id)
        ), *await session.scalars(select(col(ReferralTransition.ciphertext)).where(
            col(ReferralTransition.referral_id) == onward_id
        ))]
    assert sealed == [None] * 4  # the referral, its request, acceptance and cancellation


async def test_finding_3_after_the_retention_period_the_receiver_reads_no_free_text(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient
) -> None:
    sender, receiver, service_id = await flow.pair()
    ended = await flow.refer(sender, receiver, service_id, reason=REASON)
    assert (await flow.move(
        receiver, ended, "rejected", reason="no_capacity", note=NOTE
    )).status_code == 200
    async with app.state.database.transaction() as session:
        await service.sweep(session, utcnow() + RETENTION - timedelta(hours=1), retention=RETENTION)
    assert (await free_text_of(client, ended, receiver))[0]["reason"] == REASON

    async with app.state.database.transaction() as session:
        await service.sweep(session, utcnow() + RETENTION + timedelta(hours=1), retention=RETENTION)
    reads, history = await free_text_of(client, ended, receiver)
    assert reads == {"reason": None, "status_reason": "no_capacity", "outcome": None}
    assert [item["note"] for item in history] == [None, None]
    assert (await free_text_of(client, ended, sender))[0]["reason"] == REASON


def test_finding_3_the_api_document_marks_the_free_text_personal(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]

    def personal(schema: str, field: str) -> bool:
        return schemas[schema]["properties"][field].get("x-personal-data") is True

    assert all(personal("ReferralRead", field) for field in ("reason", "status_reason", "outcome"))
    assert all(personal("TransitionRead", field) for field in ("reason", "note", "outcome"))
    assert all(personal("TransitionRequest", field) for field in ("reason", "note", "outcome"))
    assert personal("ReferralCreate", "reason")
    assert personal("CommentRead", "text")
    assert personal("ConsentRecord", "notes")
    assert personal("Actor", "name")
    assert schemas["Person"].get("x-personal-data") is True
    assert not personal("ReferralRead", "status")
