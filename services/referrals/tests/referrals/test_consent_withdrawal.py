import json

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from services.referrals.tests.conftest import Flow, Json, Network, ProblemCheck


async def outbox(app: FastAPI, **contains: str) -> list[tuple[str, Json]]:
    """The outbox rows whose data carry these values, oldest first."""
    async with app.state.database.transaction() as session:
        rows = await session.execute(
            text("SELECT event_type, body FROM outbox ORDER BY created_at, id")
        )
    events = [(event_type, json.loads(body)) for event_type, body in rows]
    return [
        (event_type, body) for event_type, body in events
        if all(body["data"].get(key) == value for key, value in contains.items())
    ]


async def test_withdrawing_consent_cancels_open_referrals_and_withdraws_shared_data(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    sender, receiver, service_id = await flow.pair()
    case = await flow.case(sender)
    requested = await flow.refer(sender, receiver, service_id, case=case)
    in_progress = await flow.refer(sender, receiver, service_id, case=case)
    await flow.move(receiver, in_progress, "accepted")
    await flow.move(receiver, in_progress, "in_progress")
    completed = await flow.refer(sender, receiver, service_id, case=case)
    await flow.move(receiver, completed, "accepted")
    await flow.move(receiver, completed, "completed", outcome="Shelter found")
    draft = await flow.refer(sender, receiver, service_id, case=case, status="draft")

    withdrawn = await client.delete(f"/v1/cases/{case['id']}/consent", headers=sender.headers)
    assert withdrawn.status_code == 200, withdrawn.text
    cancelled = {requested["id"], in_progress["id"], draft["id"]}
    assert set(withdrawn.json()["cancelled_referral_ids"]) == cancelled

    for referral in (requested, in_progress, completed):
        for org in (sender, receiver):
            seen = (await client.get(f"/v1/referrals/{referral['id']}", headers=org.headers)).json()
            assert seen["person"] is None
            assert seen["status"] == ("completed" if referral is completed else "cancelled")
    seen = (await client.get(f"/v1/referrals/{requested['id']}", headers=receiver.headers)).json()
    assert seen["status_reason"] == "consent_withdrawn"
    history = await client.get(
        f"/v1/referrals/{in_progress['id']}/history", headers=receiver.headers
    )
    assert history.json()["items"][-1]["from"] == "in_progress"
    assert history.json()["items"][-1]["reason"] == "consent_withdrawn"

    case_now = (await client.get(f"/v1/cases/{case['id']}", headers=sender.headers)).json()
    assert case_now["consent"] is None
    assert case_now["person"] == case["person"]
    cancellations = [
        body["data"]["referral_id"] for event_type, body in await outbox(app)
        if event_type == "referral.cancelled"
    ]
    # The draft was never sent: nobody but the sender hears of it.
    assert {requested["id"], in_progress["id"]} <= set(cancellations)
    assert draft["id"] not in cancellations
    [(_, event)] = await outbox(app, case_id=case["id"])
    assert event["type"] == "case.consent_withdrawn"
    assert set(event["data"]["cancelled_referral_ids"]) == cancelled
    assert event["data"]["organization_id"] == str(sender.id)

    again = await client.post(
        "/v1/referrals", headers=sender.headers, json=flow.referral_body(case, receiver, service_id)
    )
    problem(again, 422, "no-legal-basis")
    problem(await client.delete(f"/v1/cases/{case['id']}/consent", headers=sender.headers), 409)
