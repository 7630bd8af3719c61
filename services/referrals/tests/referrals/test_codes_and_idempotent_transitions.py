"""Controlled codes for rejections and failures; Idempotency-Key and If-Match on transitions."""

import asyncio
import hashlib
import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.referrals.tests.conftest import Flow, Network, ProblemCheck


async def test_rejection_takes_a_code_and_other_needs_a_note(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    sender, receiver, service_id = await flow.pair()
    referral = await flow.refer(sender, receiver, service_id)
    path = f"/v1/referrals/{referral['id']}/transitions"
    headers = {**receiver.headers, "If-Match": '"1"'}
    refused = problem(await client.post(
        path, headers=headers, json={"to": "rejected", "reason": "we are busy"}
    ), 422, "validation-error")
    assert "no_capacity" in str(refused["errors"])
    problem(await client.post(
        path, headers=headers, json={"to": "rejected", "reason": "other"}
    ), 422, "validation-error")
    rejected = await client.post(path, headers=headers, json={
        "to": "rejected", "reason": "other", "note": "The person moved to another city",
    })
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status_reason"] == "other"
    history = await client.get(f"/v1/referrals/{referral['id']}/history", headers=sender.headers)
    assert history.json()["items"][-1]["note"] == "The person moved to another city"


async def test_failure_takes_an_outcome_code(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    sender, receiver, service_id = await flow.pair()
    referral = await flow.refer(sender, receiver, service_id)
    accepted = await flow.move(receiver, referral, "accepted")
    headers = {**receiver.headers, "If-Match": accepted.headers["ETag"]}
    path = f"/v1/referrals/{referral['id']}/transitions"
    problem(await client.post(path, headers=headers, json={
        "to": "failed", "reason": "could not reach", "outcome": "gave up",
    }), 422, "validation-error")
    failed = await client.post(path, headers=headers, json={
        "to": "failed", "reason": "three calls unanswered", "outcome": "unable_to_contact_client",
    })
    assert failed.status_code == 200, failed.text
    assert failed.json()["outcome"] == "unable_to_contact_client"
    # Completion keeps a free-text outcome.
    other = await flow.refer(sender, receiver, service_id)
    await flow.move(receiver, other, "accepted")
    completed = await flow.move(receiver, other, "completed", outcome="Wages recovered")
    assert completed.status_code == 200
    assert completed.json()["outcome"] == "Wages recovered"


async def test_a_retried_transition_answers_the_first_response(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    sender, receiver, service_id = await flow.pair()
    referral = await flow.refer(sender, receiver, service_id)
    path = f"/v1/referrals/{referral['id']}/transitions"
    headers = {**receiver.headers, "If-Match": '"1"', "Idempotency-Key": uuid.uuid4().hex}
    first = await client.post(path, headers=headers, json={"to": "accepted", "note": "ok"})
    assert first.status_code == 200, first.text
    again = await client.post(path, headers=headers, json={"to": "accepted", "note": "ok"})
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["ETag"] == first.headers["ETag"] == '"2"'
    history = await client.get(f"/v1/referrals/{referral['id']}/history", headers=sender.headers)
    assert [step["to"] for step in history.json()["items"]] == ["requested", "accepted"]
    problem(await client.post(path, headers=headers, json={"to": "received"}), 422,
            "idempotency-key-reused")
    # The same key on another referral is another body too.
    other = await flow.refer(sender, receiver, service_id)
    problem(await client.post(
        f"/v1/referrals/{other['id']}/transitions", headers=headers,
        json={"to": "accepted", "note": "ok"},
    ), 422, "idempotency-key-reused")


async def test_postgresql_a_key_in_flight_is_409(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck,
    database_url: str,
) -> None:
    sender, receiver, service_id = await flow.pair()
    referral = await flow.refer(sender, receiver, service_id)
    key = uuid.uuid4().hex
    digest = hashlib.sha256(f"idempotency/{receiver.id}/{key}".encode()).digest()
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as holder:  # another transaction working under the key
            await holder.execute(text("SELECT pg_advisory_lock(:lock)"), {
                "lock": int.from_bytes(digest[:8], "big", signed=True)
            })
            busy = await client.post(
                f"/v1/referrals/{referral['id']}/transitions",
                headers={**receiver.headers, "If-Match": '"1"', "Idempotency-Key": key},
                json={"to": "accepted"},
            )
            problem(busy, 409, "idempotency-key-in-use")
    finally:
        await engine.dispose()
    after = await client.get(f"/v1/referrals/{referral['id']}", headers=sender.headers)
    assert after.json()["version"] == 1


async def test_two_concurrent_transitions_with_one_etag_exactly_one_wins(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    sender, receiver, service_id = await flow.pair()
    for _ in range(3):
        referral = await flow.refer(sender, receiver, service_id)
        path = f"/v1/referrals/{referral['id']}/transitions"
        headers = {**receiver.headers, "If-Match": '"1"'}
        answers = await asyncio.gather(
            client.post(path, headers=headers, json={"to": "accepted"}),
            client.post(path, headers=headers, json={"to": "rejected", "reason": "no_capacity"}),
            client.post(path, headers=headers, json={"to": "received"}),
        )
        assert sorted(answer.status_code for answer in answers) == [200, 412, 412]
        for answer in answers:
            if answer.status_code == 412:
                problem(answer, 412, "precondition-failed")
        history = await client.get(path.replace("transitions", "history"), headers=sender.headers)
        assert len(history.json()["items"]) == 2
