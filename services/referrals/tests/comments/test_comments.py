import json
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlmodel import col

from services.referrals.tests.conftest import Flow, Network, ProblemCheck
from waymark_kernel.testing import TestIssuer
from waymark_referrals.comments.models import Comment

SECRET_TEXT = "She can only talk after 21:00, the madam sleeps then"


async def test_sender_and_receiver_talk_and_the_text_is_sealed(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient, network: Network
) -> None:
    sender, receiver, service_id = await flow.pair()
    referral = await flow.refer(sender, receiver, service_id)
    path = f"/v1/referrals/{referral['id']}/comments"
    asked = await client.post(path, headers=sender.headers, json={"text": SECRET_TEXT})
    assert asked.status_code == 201, asked.text
    assert asked.json()["author_org_id"] == str(sender.id)
    answered = await client.post(path, headers=receiver.headers, json={"text": "Noted, thanks"})
    assert answered.status_code == 201

    for reader in (sender, receiver):
        thread = await client.get(path, headers=reader.headers)
        assert thread.status_code == 200
        assert [item["text"] for item in thread.json()["items"]] == [SECRET_TEXT, "Noted, thanks"]
    first = await client.get(path, headers=receiver.headers, params={"limit": 1})
    rest = await client.get(
        path, headers=receiver.headers, params={"cursor": first.json()["next_cursor"]}
    )
    assert [item["text"] for item in first.json()["items"] + rest.json()["items"]] == [
        SECRET_TEXT, "Noted, thanks",
    ]

    async with app.state.database.transaction() as session:
        stored = (await session.execute(select(col(Comment.ciphertext)).where(
            col(Comment.referral_id) == uuid.UUID(referral["id"])
        ))).scalars().all()
        events = (await session.execute(text(
            "SELECT body FROM outbox WHERE event_type = 'referral.comment_added' AND body LIKE :id "
            "ORDER BY created_at, id"
        ), {"id": f"%{referral['id']}%"})).scalars().all()
    assert len(stored) == 2
    assert all(b"madam" not in bytes(row) for row in stored)
    assert len(events) == 2
    data = json.loads(events[0])["data"]
    assert data == {
        "referral_id": referral["id"], "comment_id": asked.json()["id"],
        "sender_org_id": str(sender.id), "receiver_org_id": str(receiver.id),
        "author_org_id": str(sender.id),
    }
    assert all("madam" not in body and "Noted" not in body for body in events)


async def test_only_the_two_parties_see_or_write_comments(
    flow: Flow, client: httpx.AsyncClient, network: Network, issuer: TestIssuer,
    problem: ProblemCheck,
) -> None:
    sender, receiver, service_id = await flow.pair()
    stranger = await network.organization("JO")
    referral = await flow.refer(sender, receiver, service_id)
    path = f"/v1/referrals/{referral['id']}/comments"
    await client.post(path, headers=sender.headers, json={"text": SECRET_TEXT})
    admin = issuer.headers(None, "network_admin")
    for headers in (stranger.headers, admin):
        problem(await client.get(path, headers=headers), 404)
        problem(await client.post(path, headers=headers, json={"text": "hello"}), 404)
    problem(await client.get(f"/v1/referrals/{uuid.uuid4()}/comments", headers=sender.headers), 404)
    problem(await client.post(path, headers=receiver.viewer, json={"text": "hi"}), 403)
    viewer_reads = await client.get(path, headers=receiver.viewer)
    assert viewer_reads.status_code == 200
    assert len(viewer_reads.json()["items"]) == 1
    for body in ({"text": ""}, {"text": "x" * 4001}, {"text": "hi", "to": "all"}, {}):
        problem(await client.post(path, headers=sender.headers, json=body), 422)
    # A draft is the sender's alone, its comments too.
    draft = await flow.refer(sender, receiver, service_id, status="draft")
    problem(await client.get(
        f"/v1/referrals/{draft['id']}/comments", headers=receiver.headers
    ), 404)
