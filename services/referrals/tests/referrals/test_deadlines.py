import json
import uuid
from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from services.referrals.tests.conftest import Flow, Json, Network
from waymark_kernel.clock import utcnow
from waymark_referrals.referrals import service
from waymark_referrals.referrals.models import Referral

RETENTION = timedelta(days=90)


def hours_to_answer(referral: Json) -> float:
    due, created = (datetime.fromisoformat(referral[key]) for key in ("respond_by", "created_at"))
    return (due - created) / timedelta(hours=1)


async def test_the_answer_is_due_by_urgency_or_sooner_if_the_service_promises(
    flow: Flow, network: Network
) -> None:
    sender, receiver, _service_id = await flow.pair()
    case = await flow.case(sender)
    for urgency, hours in (("emergency", 1), ("high", 24), ("normal", 72), ("low", 168)):
        referral = await flow.refer(sender, receiver, None, case=case, urgency=urgency)
        assert hours_to_answer(referral) == hours
    quick = await network.service(receiver, response_time_hours=12)
    slow = await network.service(receiver, response_time_hours=96)
    promised = await flow.refer(sender, receiver, quick, case=case, urgency="low")
    assert hours_to_answer(promised) == 12
    urgent = await flow.refer(sender, receiver, slow, case=case, urgency="normal")
    assert hours_to_answer(urgent) == 72


async def test_overdue_referrals_are_flagged_listed_and_announced_once(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient, network: Network
) -> None:
    sender, receiver, service_id = await flow.pair()
    late = await flow.refer(sender, receiver, service_id, urgency="emergency")
    answered = await flow.refer(sender, receiver, service_id, urgency="emergency")
    await flow.move(receiver, answered, "accepted")
    async with app.state.database.transaction() as session:  # two hours pass
        for referral in (late, answered):
            (await session.get(Referral, uuid.UUID(referral["id"]))).respond_by -= timedelta(hours=2)

    seen = (await client.get(f"/v1/referrals/{late['id']}", headers=receiver.headers)).json()
    assert seen["overdue"] is True
    overdue = await client.get("/v1/referrals", headers=receiver.headers, params={"overdue": True})
    assert [item["id"] for item in overdue.json()["items"]] == [late["id"]]

    async with app.state.database.transaction() as session:
        await service.sweep(session, utcnow(), retention=RETENTION)
        await service.sweep(session, utcnow(), retention=RETENTION)
        rows = (await session.execute(text(
            "SELECT body FROM outbox WHERE event_type = 'referral.overdue' AND body LIKE :id"
        ), {"id": f"%{late['id']}%"})).scalars().all()
    assert len(rows) == 1
    assert json.loads(rows[0])["data"]["status"] == "requested"


async def test_idempotency_keys_are_forgotten_after_24_hours(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient, network: Network
) -> None:
    sender, receiver, service_id = await flow.pair()
    case = await flow.case(sender)
    headers = {**sender.headers, "Idempotency-Key": uuid.uuid4().hex}
    body = flow.referral_body(case, receiver, service_id)
    first = await client.post("/v1/referrals", headers=headers, json=body)
    async with app.state.database.transaction() as session:
        await service.sweep(session, utcnow() + timedelta(hours=25), retention=RETENTION)
    later = await client.post("/v1/referrals", headers=headers, json={**body, "urgency": "low"})
    assert later.status_code == 201
    assert later.json()["id"] != first.json()["id"]


async def test_the_shared_snapshot_is_erased_a_retention_period_after_the_referral_ended(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient, network: Network
) -> None:
    sender, receiver, service_id = await flow.pair()
    ended = await flow.refer(sender, receiver, service_id)
    await flow.move(receiver, ended, "rejected", reason="out_of_area")
    still_open = await flow.refer(sender, receiver, service_id)
    async with app.state.database.transaction() as session:
        await service.sweep(session, utcnow() + RETENTION - timedelta(hours=1), retention=RETENTION)
    for referral in (ended, still_open):
        seen = await client.get(f"/v1/referrals/{referral['id']}", headers=receiver.headers)
        assert seen.json()["person"] is not None

    async with app.state.database.transaction() as session:
        await service.sweep(session, utcnow() + RETENTION + timedelta(hours=1), retention=RETENTION)
    for reader in (sender, receiver):
        gone = await client.get(f"/v1/referrals/{ended['id']}", headers=reader.headers)
        assert gone.json()["person"] is None
        assert gone.json()["status"] == "rejected"
    kept = await client.get(f"/v1/referrals/{still_open['id']}", headers=receiver.headers)
    assert kept.json()["person"]["given_name"]
