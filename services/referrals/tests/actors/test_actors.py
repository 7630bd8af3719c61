"""Records name who acted: a person by her id and (sealed) display name, an API client by its
id and name; a person's erasure turns her name into a stable pseudonym and every ledger chain
still verifies."""

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from services.referrals.tests.conftest import Flow, Json, Network, Org, ProblemCheck
from waymark_kernel.testing import TestIssuer
from waymark_referrals.disclosures.service import verify_ledger

# Every table where the service records who acted, and the outbox its events leave from.
TABLES = (
    "referrals_actor_names", "referrals_cases", "referrals_referral_transitions",
    "referrals_comments", "referrals_disclosures", "outbox",
)


@dataclass
class Caseworker:
    id: uuid.UUID
    name: str
    headers: dict[str, str]

    @property
    def actor(self) -> Json:
        return {"kind": "person", "id": str(self.id), "name": self.name}


SignIn = Callable[[Org, str], Caseworker]  # a caseworker of the organisation, signed in


@pytest.fixture
def caseworker(issuer: TestIssuer) -> SignIn:
    def signed_in(org: Org, name: str) -> Caseworker:
        person_id = uuid.uuid4()
        # A name no other test writes: finding it anywhere in a table is this test's leak.
        name = f"{name} {uuid.uuid4().hex[:6]}"
        token = issuer.token(org.id, "caseworker", person=(person_id, name))
        return Caseworker(person_id, name, {"Authorization": f"Bearer {token}"})
    return signed_in


async def rows_naming(app: FastAPI, name: str) -> dict[str, int]:
    """How many rows of each table hold the name in the clear, any column."""
    found = {}
    async with app.state.database.transaction() as session:
        for table in TABLES:
            rows = (await session.execute(text(f"SELECT * FROM {table}"))).all()
            found[table] = sum(name in " ".join(map(str, row)) for row in rows)
    return found


async def transition(
    client: httpx.AsyncClient, person: Caseworker, referral_id: str, to: str, **body: Any
) -> httpx.Response:
    current = await client.get(f"/v1/referrals/{referral_id}", headers=person.headers)
    moved = await client.post(
        f"/v1/referrals/{referral_id}/transitions",
        headers={**person.headers, "If-Match": current.headers["ETag"]}, json={"to": to, **body},
    )
    assert moved.status_code == 200, moved.text
    return moved


async def a_persons_referral(
    client: httpx.AsyncClient, flow: Flow, caseworker: SignIn, consent: Json
) -> tuple[Org, Org, Caseworker, Caseworker, Json, Json]:
    """Asha (sender) creates a case, records consent, refers and comments; Karim (receiver)
    reads, accepts and answers."""
    sender, receiver, service_id = await flow.pair()
    asha, karim = caseworker(sender, "Asha Rai"), caseworker(receiver, "Karim Haddad")
    created = await client.post("/v1/cases", headers=asha.headers, json={
        "person": {"given_name": "Sunita", "phone": "+9779812345678"},
    })
    assert created.status_code == 201, created.text
    case = created.json()
    recorded = await client.put(
        f"/v1/cases/{case['id']}/consent", headers=asha.headers, json=consent
    )
    assert recorded.status_code == 200, recorded.text
    referred = await client.post(
        "/v1/referrals", headers=asha.headers,
        json=flow.referral_body(case, receiver, service_id),
    )
    assert referred.status_code == 201, referred.text
    referral = referred.json()
    comments = f"/v1/referrals/{referral['id']}/comments"
    asked = await client.post(comments, headers=asha.headers, json={"text": "Call on Sunday"})
    assert asked.status_code == 201, asked.text
    await transition(client, karim, referral["id"], "accepted")
    answered = await client.post(comments, headers=karim.headers, json={"text": "Will do"})
    assert answered.status_code == 201, answered.text
    return sender, receiver, asha, karim, case, referral


async def test_a_persons_acts_name_her_and_her_name_is_stored_sealed(
    app: FastAPI, client: httpx.AsyncClient, flow: Flow, caseworker: SignIn, consent: Json,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sender, receiver, asha, karim, case, referral = await a_persons_referral(
        client, flow, caseworker, consent
    )
    read = await client.get(f"/v1/cases/{case['id']}", headers=asha.headers)
    assert read.status_code == 200
    assert read.json()["created_by"] == asha.actor
    assert read.json()["consent"]["actor"] == asha.actor
    assert read.json()["consent"]["recorded_by"] == str(asha.id)

    history = await client.get(f"/v1/referrals/{referral['id']}/history", headers=karim.headers)
    assert [(item["to"], item["actor"]) for item in history.json()["items"]] == [
        ("requested", asha.actor), ("accepted", karim.actor),
    ]
    assert history.json()["items"][1]["actor_subject"] == str(karim.id)
    thread = await client.get(f"/v1/referrals/{referral['id']}/comments", headers=asha.headers)
    assert [(item["text"], item["actor"]) for item in thread.json()["items"]] == [
        ("Call on Sunday", asha.actor), ("Will do", karim.actor),
    ]

    ledger = await client.get(f"/v1/cases/{case['id']}/disclosures", headers=asha.headers)
    assert ledger.status_code == 200, ledger.text
    entries = ledger.json()["items"]
    # Each answer that showed the person to one of them, in order: Asha's consent and referral,
    # Karim's read and acceptance (a GET, then the answer), Asha's read of the case.
    assert [(entry["actor"], entry["referral_id"]) for entry in entries] == [
        (asha.actor, None), (asha.actor, referral["id"]), (karim.actor, referral["id"]),
        (karim.actor, referral["id"]), (asha.actor, None),
    ]
    assert entries[-1]["reader_org_id"] == str(sender.id)
    assert entries[-1]["fields"] == ["given_name", "phone"]
    assert entries[2]["reader_org_id"] == str(receiver.id)
    assert entries[2]["fields"] == ["given_name", "phone", "safe_contact"]  # as referred

    assert await rows_naming(app, asha.name) == dict.fromkeys(TABLES, 0)
    assert await rows_naming(app, karim.name) == dict.fromkeys(TABLES, 0)
    assert asha.name not in caplog.text
    assert karim.name not in caplog.text
    async with app.state.database.transaction() as session:
        assert (await verify_ledger(session)).intact


async def test_consent_withdrawal_names_who_withdrew(
    app: FastAPI, client: httpx.AsyncClient, flow: Flow, caseworker: SignIn, consent: Json
) -> None:
    sender, _, asha, karim, case, referral = await a_persons_referral(
        client, flow, caseworker, consent
    )
    colleague = caseworker(sender, "Bina Thapa")
    withdrawn = await client.delete(f"/v1/cases/{case['id']}/consent", headers=colleague.headers)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["actor"] == colleague.actor
    assert withdrawn.json()["cancelled_referral_ids"] == [referral["id"]]

    read = (await client.get(f"/v1/cases/{case['id']}", headers=asha.headers)).json()
    assert read["consent"] is None
    assert read["consent_withdrawn"] == {
        "withdrawn_at": withdrawn.json()["withdrawn_at"], "actor": colleague.actor,
    }
    history = await client.get(f"/v1/referrals/{referral['id']}/history", headers=karim.headers)
    assert history.json()["items"][-1]["to"] == "cancelled"
    assert history.json()["items"][-1]["actor"] == colleague.actor
    assert await rows_naming(app, colleague.name) == dict.fromkeys(TABLES, 0)


async def test_a_name_changed_since_stays_as_it_was_on_earlier_records(
    app: FastAPI, client: httpx.AsyncClient, flow: Flow, caseworker: SignIn, issuer: TestIssuer,
    consent: Json,
) -> None:
    sender, _, asha, _, _case, referral = await a_persons_referral(
        client, flow, caseworker, consent
    )
    new_name = f"{asha.name} Shrestha"
    renamed = Caseworker(asha.id, new_name, {"Authorization": "Bearer " + issuer.token(
        sender.id, "caseworker", person=(asha.id, new_name)
    )})
    path = f"/v1/referrals/{referral['id']}/comments"
    await client.post(path, headers=renamed.headers, json={"text": "New name, same person"})
    thread = (await client.get(path, headers=asha.headers)).json()["items"]
    assert [item["actor"] for item in thread if item["actor"]["id"] == str(asha.id)] == [
        asha.actor, renamed.actor,
    ]
    async with app.state.database.transaction() as session:
        names = (await session.execute(text(
            "SELECT count(*) FROM referrals_actor_names WHERE person_id = :id"
        ), {"id": str(asha.id)})).scalar_one()
    assert names == 2  # one sealed row per name she acted under, not one per act


async def test_a_clients_acts_name_the_client_in_the_clear(
    app: FastAPI, client: httpx.AsyncClient, flow: Flow, consent: Json
) -> None:
    sender, receiver, service_id = await flow.pair()
    case = await flow.case(sender)
    referral = await flow.refer(sender, receiver, service_id, case=case)
    await flow.move(receiver, referral, "accepted")
    await client.post(
        f"/v1/referrals/{referral['id']}/comments", headers=receiver.headers, json={"text": "ok"}
    )
    read = (await client.get(f"/v1/cases/{case['id']}", headers=sender.headers)).json()
    for actor in (read["created_by"], read["consent"]["actor"]):
        assert actor["kind"] == "client"
        assert actor["name"] == "test client"
        assert actor["id"].startswith("test-")
    history = (await client.get(
        f"/v1/referrals/{referral['id']}/history", headers=sender.headers
    )).json()["items"]
    assert [item["actor"]["kind"] for item in history] == ["client", "client"]
    assert [item["actor"]["id"] for item in history] == [
        item["actor_subject"] for item in history
    ]
    comment = (await client.get(
        f"/v1/referrals/{referral['id']}/comments", headers=sender.headers
    )).json()["items"][0]
    assert comment["actor"] == {
        "kind": "client", "id": comment["author_subject"], "name": "test client",
    }
    entries = (await client.get(
        f"/v1/cases/{case['id']}/disclosures", headers=sender.headers
    )).json()["items"]
    # The owner's own systems reading its cases are not entries; the receiver's are.
    assert {entry["reader_org_id"] for entry in entries} == {str(receiver.id)}
    assert all(entry["actor"]["kind"] == "client" for entry in entries)


async def test_another_organisation_does_not_see_a_case_ledger(
    client: httpx.AsyncClient, flow: Flow, network: Network, caseworker: SignIn, consent: Json,
    problem: ProblemCheck,
) -> None:
    _, receiver, asha, karim, case, _ = await a_persons_referral(client, flow, caseworker, consent)
    stranger = caseworker(await network.organization("JO"), "Omar Saleh")
    path = f"/v1/cases/{case['id']}/disclosures"
    for outsider in (karim, stranger):
        problem(await client.get(path, headers=outsider.headers), 404)
    problem(await client.get(path, headers=receiver.headers), 404)
    problem(await client.get(f"/v1/cases/{uuid.uuid4()}/disclosures", headers=asha.headers), 404)
    entries = (await client.get(path, headers=asha.headers, params={"limit": 2})).json()
    rest = await client.get(path, headers=asha.headers, params={"cursor": entries["next_cursor"]})
    assert len(entries["items"]) == 2
    assert len(rest.json()["items"]) == 2


async def test_an_erased_persons_name_becomes_a_stable_pseudonym_and_the_ledger_verifies(
    app: FastAPI, client: httpx.AsyncClient, flow: Flow, caseworker: SignIn, issuer: TestIssuer,
    consent: Json, problem: ProblemCheck,
) -> None:
    _sender, _, asha, karim, case, referral = await a_persons_referral(
        client, flow, caseworker, consent
    )
    admin = {"Authorization": f"Bearer {issuer.token(None, 'network_admin')}"}
    erasure = f"/internal/people/{karim.id}/erasure"
    problem(await client.post(erasure, headers=karim.headers), 403)
    problem(await client.post("/internal/people/not-a-uuid/erasure", headers=admin), 422)
    assert (await client.get(erasure, headers=admin)).status_code == 405
    async with app.state.database.transaction() as session:
        assert (await session.execute(text(
            "SELECT count(*) FROM referrals_actor_names WHERE person_id = :id "
            "AND ciphertext IS NOT NULL"
        ), {"id": str(karim.id)})).scalar_one() == 1  # the refusals changed nothing

    erased = await client.post(erasure, headers=admin)
    assert erased.status_code == 200, erased.text
    pseudonym = erased.json()["pseudonym"]
    assert re.fullmatch(r"person-[0-9a-f]{8}", pseudonym)
    assert erased.json() == {
        "person_id": str(karim.id), "pseudonym": pseudonym, "names_erased": 1,
    }
    again = await client.post(erasure, headers=admin)
    assert again.json() == {"person_id": str(karim.id), "pseudonym": pseudonym, "names_erased": 0}

    erased_actor = {"kind": "person", "id": str(karim.id), "name": pseudonym}
    history = (await client.get(
        f"/v1/referrals/{referral['id']}/history", headers=asha.headers
    )).json()["items"]
    assert [item["actor"] for item in history] == [asha.actor, erased_actor]
    thread = (await client.get(
        f"/v1/referrals/{referral['id']}/comments", headers=asha.headers
    )).json()["items"]
    assert [item["actor"] for item in thread] == [asha.actor, erased_actor]
    entries = (await client.get(
        f"/v1/cases/{case['id']}/disclosures", headers=asha.headers
    )).json()["items"]
    assert [entry["actor"] for entry in entries] == [asha.actor] * 2 + [erased_actor] * 2

    async with app.state.database.transaction() as session:
        remaining = (await session.execute(text(
            "SELECT count(*) FROM referrals_actor_names WHERE person_id = :id "
            "AND (ciphertext IS NOT NULL OR wrapped_key IS NOT NULL OR key_id IS NOT NULL)"
        ), {"id": str(karim.id)})).scalar_one()
        check = await verify_ledger(session)
    assert remaining == 0
    assert check.intact, check.problem
    # Nobody else's name changed, and another person gets another pseudonym.
    other = await client.post(f"/internal/people/{asha.id}/erasure", headers=admin)
    assert other.json()["pseudonym"] != pseudonym
