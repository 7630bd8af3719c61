"""When the person's data leaves a referral (consent withdrawn, or the retention period over),
the comments, which may speak of the person, leave with it: the other organisations read no
text any more, the case's owner keeps the threads it took part in, and the threads of legs it
took no part in are erased."""

import uuid
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlmodel import col

from services.referrals.tests.conftest import Flow, Json, Network, Org, ProblemCheck
from waymark_kernel.clock import utcnow
from waymark_referrals.comments.models import Comment
from waymark_referrals.referrals import service

OWNER_TEXT = "She is Sunita, call her sister in Pokhara first"
RECEIVER_TEXT = "Sunita came to our office on Tuesday"
ONWARD_TEXT = "Sunita arrives in Amman by bus on Friday"
RETENTION = timedelta(days=90)


async def texts(client: httpx.AsyncClient, referral: Json, org: Org) -> list[str | None]:
    thread = await client.get(f"/v1/referrals/{referral['id']}/comments", headers=org.headers)
    assert thread.status_code == 200, thread.text
    return [item["text"] for item in thread.json()["items"]]


async def say(client: httpx.AsyncClient, referral: Json, org: Org, words: str) -> None:
    said = await client.post(
        f"/v1/referrals/{referral['id']}/comments", headers=org.headers, json={"text": words}
    )
    assert said.status_code == 201, said.text


async def stored_texts(app: FastAPI, referral: Json) -> list[bytes | None]:
    async with app.state.database.transaction() as session:
        return list((await session.execute(select(col(Comment.ciphertext)).where(
            col(Comment.referral_id) == uuid.UUID(referral["id"])
        ))).scalars())


async def test_withdrawn_consent_takes_the_comment_texts_from_every_organisation_but_the_owner(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    origin = await network.organization("NP")
    transit = await network.organization("LB", type="cso")
    destination = await network.organization("JO", type="cso")
    first = await flow.refer(origin, transit, await network.service(transit))
    await flow.move(transit, first, "accepted")
    onward = await client.post(f"/v1/referrals/{first['id']}/onward", headers=transit.headers, json={
        "receiver_org_id": str(destination.id), "migration_stage": "destination",
        "reason": "Continues to Amman", "shared_fields": ["given_name"],
    })
    assert onward.status_code == 201, onward.text
    onward = onward.json()
    await say(client, first, origin, OWNER_TEXT)
    await say(client, first, transit, RECEIVER_TEXT)
    await say(client, onward, transit, ONWARD_TEXT)
    await say(client, onward, destination, "Noted")

    withdrawn = await client.delete(f"/v1/cases/{first['case_id']}/consent", headers=origin.headers)
    assert withdrawn.status_code == 200, withdrawn.text

    assert await texts(client, first, origin) == [OWNER_TEXT, RECEIVER_TEXT]
    assert await texts(client, first, transit) == [None, None]
    for reader in (transit, destination):
        assert await texts(client, onward, reader) == [None, None]
    # Nobody may read the onward leg's thread any more: its texts are gone from the database.
    assert await stored_texts(app, onward) == [None, None]
    assert all(stored is not None for stored in await stored_texts(app, first))
    # The conversation is closed for those who lost the data; the owner may still write.
    problem(await client.post(
        f"/v1/referrals/{first['id']}/comments", headers=transit.headers, json={"text": "Bye"}
    ), 409, "no-legal-basis")
    await say(client, first, origin, "Closed on her request")


async def test_after_the_retention_period_the_receiver_reads_no_comment_text(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient, network: Network
) -> None:
    sender, receiver, service_id = await flow.pair()
    ended = await flow.refer(sender, receiver, service_id)
    await say(client, ended, sender, OWNER_TEXT)
    await say(client, ended, receiver, RECEIVER_TEXT)
    await flow.move(receiver, ended, "rejected", reason="out_of_area")
    async with app.state.database.transaction() as session:
        await service.sweep(session, utcnow() + RETENTION - timedelta(hours=1), retention=RETENTION)
    assert await texts(client, ended, receiver) == [OWNER_TEXT, RECEIVER_TEXT]

    async with app.state.database.transaction() as session:
        await service.sweep(session, utcnow() + RETENTION + timedelta(hours=1), retention=RETENTION)
    assert await texts(client, ended, receiver) == [None, None]
    assert await texts(client, ended, sender) == [OWNER_TEXT, RECEIVER_TEXT]
