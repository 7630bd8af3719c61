import uuid
from dataclasses import dataclass, replace

import httpx
from fastapi import FastAPI

from services.referrals.tests.conftest import Flow, Json, Network, Org, ProblemCheck
from waymark_kernel.auth import Identity
from waymark_kernel.clock import utcnow
from waymark_kernel.testing import TestIssuer
from waymark_referrals.actors import service as actors
from waymark_referrals.referrals import repository, service
from waymark_referrals.referrals.models import Referral
from waymark_referrals.referrals.schemas import TransitionTexts
from waymark_referrals.referrals.states import CARRIES_OUTCOME, TRANSITIONS, Party, Status

# How to bring a new (requested) referral into each status: (party, target) steps.
PATHS: dict[Status, list[tuple[Party, Status]]] = {
    Status.requested: [],
    Status.received: [(Party.receiver, Status.received)],
    Status.accepted: [(Party.receiver, Status.accepted)],
    Status.rejected: [(Party.receiver, Status.rejected)],
    Status.in_progress: [(Party.receiver, Status.accepted), (Party.receiver, Status.in_progress)],
    Status.on_hold: [(Party.receiver, Status.accepted), (Party.receiver, Status.on_hold)],
    Status.completed: [(Party.receiver, Status.accepted), (Party.receiver, Status.completed)],
    Status.failed: [(Party.receiver, Status.accepted), (Party.receiver, Status.failed)],
    Status.cancelled: [(Party.sender, Status.cancelled)],
}


def details_for(target: Status) -> Json:
    details = {"reason": "no_capacity" if target is Status.rejected else "because", "note": "noted"}
    if target is Status.failed:
        return {**details, "outcome": "lack_of_capacity"}
    return {**details, "outcome": "done"} if target in CARRIES_OUTCOME else details


@dataclass(frozen=True)
class Parties:
    sender: Org
    receiver: Org
    service_id: uuid.UUID

    def of(self, party: Party) -> Org:
        return self.sender if party is Party.sender else self.receiver


async def referral_in(flow: Flow, parties: Parties, source: Status) -> Json:
    start = (parties.sender, parties.receiver, parties.service_id)
    if source is Status.draft:
        return await flow.refer(*start, status="draft")
    referral = await flow.refer(*start)
    for party, target in PATHS[source]:
        response = await flow.move(parties.of(party), referral, target, **details_for(target))
        assert response.status_code == 200, response.text
        referral = response.json()
    assert referral["status"] == source
    return referral


async def test_happy_path_to_completed_with_outcome_and_history(
    flow: Flow, client: httpx.AsyncClient, network: Network
) -> None:
    sender, receiver, service_id = await flow.pair()
    referral = await flow.refer(sender, receiver, service_id)
    for step, (target, extra) in enumerate((
        ("accepted", {"note": "we call on Sunday"}),
        ("in_progress", {}),
        ("completed", {"outcome": "Wages recovered; passport returned"}),
    ), start=2):
        moved = await flow.move(receiver, referral, target, **extra)
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == target
        assert moved.json()["version"] == step
        assert moved.headers["ETag"] == f'"{step}"'
    final = (await client.get(f"/v1/referrals/{referral['id']}", headers=sender.headers)).json()
    assert final["outcome"] == "Wages recovered; passport returned"
    assert final["person"] is not None

    history = await client.get(f"/v1/referrals/{referral['id']}/history", headers=sender.headers)
    assert history.status_code == 200
    steps = history.json()["items"]
    assert [(step["from"], step["to"]) for step in steps] == [
        (None, "requested"), ("requested", "accepted"), ("accepted", "in_progress"),
        ("in_progress", "completed"),
    ]
    assert [step["actor_org_id"] for step in steps] == [str(sender.id)] + [str(receiver.id)] * 3
    assert steps[1]["note"] == "we call on Sunday"
    assert steps[3]["outcome"].startswith("Wages")
    assert all(step["actor_subject"] and step["occurred_at"] for step in steps)
    first = await client.get(
        f"/v1/referrals/{referral['id']}/history", headers=receiver.headers, params={"limit": 3}
    )
    rest = await client.get(
        f"/v1/referrals/{referral['id']}/history", headers=receiver.headers,
        params={"cursor": first.json()["next_cursor"]},
    )
    assert first.json()["items"] + rest.json()["items"] == steps


async def test_every_allowed_transition_works_for_its_parties(flow: Flow, network: Network) -> None:
    parties = Parties(*await flow.pair())
    for (source, target), allowed in TRANSITIONS.items():
        for party in allowed:
            referral = await referral_in(flow, parties, source)
            moved = await flow.move(parties.of(party), referral, target, **details_for(target))
            assert moved.status_code == 200, (source, target, party, moved.text)
            assert moved.json()["status_reason"] == details_for(target)["reason"]


async def test_every_other_transition_is_409_and_changes_nothing(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    parties = Parties(*await flow.pair())
    for source in Status:
        referral = await referral_in(flow, parties, source)
        for target in Status:
            if (source, target) in TRANSITIONS:
                continue
            # The receiver cannot see a draft at all (404), so only its sender tries.
            for party in (Party.sender,) if source is Status.draft else Party:
                refused = await flow.move(
                    parties.of(party), referral, target, **details_for(target)
                )
                problem(refused, 409, "invalid-transition")
        after = await client.get(
            f"/v1/referrals/{referral['id']}", headers=parties.sender.headers
        )
        assert after.json()["version"] == referral["version"]
        assert after.json()["status"] == source


async def test_the_wrong_party_gets_403(
    flow: Flow, client: httpx.AsyncClient, network: Network, issuer: TestIssuer,
    problem: ProblemCheck,
) -> None:
    sender, receiver, service_id = await flow.pair()
    referral = await flow.refer(sender, receiver, service_id)
    problem(await flow.move(sender, referral, "accepted"), 403)
    problem(await flow.move(receiver, referral, "cancelled", reason="duplicate"), 403)
    problem(await flow.move(replace(receiver, headers=receiver.viewer), referral, "accepted"), 403)
    admin = issuer.headers(None, "network_admin")
    refused = await client.post(
        f"/v1/referrals/{referral['id']}/transitions", headers={**admin, "If-Match": '"1"'},
        json={"to": "accepted"},
    )
    problem(refused, 403)
    after = await client.get(f"/v1/referrals/{referral['id']}", headers=sender.headers)
    assert after.json()["status"] == "requested"
    assert after.json()["version"] == 1


async def test_if_match_is_required_and_must_be_current(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    sender, receiver, service_id = await flow.pair()
    referral = await flow.refer(sender, receiver, service_id)
    path = f"/v1/referrals/{referral['id']}/transitions"
    problem(await client.post(path, headers=receiver.headers, json={"to": "received"}), 428,
            "precondition-required")
    received = await client.post(
        path, headers={**receiver.headers, "If-Match": 'W/"1"'}, json={"to": "received"}
    )
    assert received.status_code == 200, received.text
    stale = await client.post(
        path, headers={**receiver.headers, "If-Match": '"1"'}, json={"to": "accepted"}
    )
    problem(stale, 412, "precondition-failed")
    current = await client.post(
        path, headers={**receiver.headers, "If-Match": '"1", "2"'}, json={"to": "accepted"}
    )
    assert current.status_code == 200
    assert current.json()["version"] == 3


async def test_reasons_and_outcomes_are_required_where_the_contract_says(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    sender, receiver, service_id = await flow.pair()
    referral = await flow.refer(sender, receiver, service_id)
    path = f"/v1/referrals/{referral['id']}/transitions"
    headers = {**receiver.headers, "If-Match": '"1"'}
    for body in (
        {"to": "rejected"}, {"to": "rejected", "reason": "  "},
        {"to": "accepted", "outcome": "premature"}, {"to": "accepted", "by": "me"},
        {"to": "teleported"}, {},
    ):
        problem(await client.post(path, headers=headers, json=body), 422, "validation-error")
    accepted = await flow.move(receiver, referral, "accepted")
    for body in ({"to": "completed"}, {"to": "failed", "outcome": "none"}, {"to": "on_hold"}):
        problem(await client.post(
            path, headers={**receiver.headers, "If-Match": accepted.headers["ETag"]}, json=body
        ), 422)


async def test_the_stored_row_holds_every_field_a_transition_changes(
    app: FastAPI, flow: Flow, network: Network
) -> None:
    """A transition's UPDATE writes only the columns of `repository.MOVED`: a field `_move`
    changes outside them would be lost without a sound. Each move of the state machine, with
    free text, is made and its row read back."""
    sender, receiver, service_id = await flow.pair()
    draft = await flow.refer(sender, receiver, service_id, status="draft")
    mover = Identity(subject="a-client", organization_id=receiver.id, roles=frozenset({"caseworker"}))
    texts = TransitionTexts(reason="because", note="noted", outcome="done")
    async with app.state.database.transaction() as session:
        actor = await actors.recorded(session, app.state.cipher, mover)
        for source, target in TRANSITIONS:
            located = await repository.find(session, uuid.UUID(draft["id"]), for_update=True)
            assert located is not None
            moved = located.referral
            moved.status = source
            moved.requested_at = None if source is Status.draft else utcnow()
            await service._move(
                session, app.state.cipher, moved, target, mover, actor, utcnow(), texts
            )
            await repository.save_moved(session, moved)
            stored = await session.get(Referral, moved.id, populate_existing=True)
            assert stored.model_dump() == moved.model_dump(), (source, target)
            session.expunge(stored)
