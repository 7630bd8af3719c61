import asyncio
import json

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from services.referrals.tests.conftest import Flow, Json, Network
from waymark_kernel.events import CloudEvent, ReferralChanged
from waymark_kernel.messaging.inprocess import InProcessBroker


async def test_referral_events_are_thin_and_published_from_the_outbox(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient, network: Network, broker: InProcessBroker,
    person: Json,
) -> None:
    delivered: list[CloudEvent] = []

    async def capture(event: CloudEvent) -> None:
        delivered.append(event)

    await broker.consume("test.capture", ["referral.*"], capture)
    sender, receiver, service_id = await flow.pair()
    referral = await flow.refer(sender, receiver, service_id)
    await flow.move(receiver, referral, "accepted", note=f"call {person['given_name']} on Sunday")

    async with app.state.database.transaction() as session:
        rows = (await session.execute(text(
            "SELECT event_type, body FROM outbox WHERE body LIKE :id ORDER BY created_at"
        ), {"id": f"%{referral['id']}%"})).all()
    assert [event_type for event_type, _ in rows] == ["referral.requested", "referral.accepted"]
    for _, body in rows:
        for value in (person["given_name"], person["family_name"], person["phone"],
                      person["safe_contact"], person["date_of_birth"]):
            assert value not in body
    accepted = ReferralChanged.model_validate(json.loads(rows[1][1])["data"])
    assert accepted == ReferralChanged(
        referral_id=referral["id"], sender_org_id=sender.id, receiver_org_id=receiver.id,
        service_id=service_id, status="accepted", from_country="NP", to_country="LB",
        urgency="high", version=2,
    )

    def of_this_referral() -> list[CloudEvent]:
        return [event for event in delivered if event.data["referral_id"] == referral["id"]]

    async def published() -> None:
        while len(of_this_referral()) < 2:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(published(), timeout=20)
    assert [(event.type, event.source) for event in of_this_referral()] == [
        ("referral.requested", "waymark/referrals"), ("referral.accepted", "waymark/referrals"),
    ]
