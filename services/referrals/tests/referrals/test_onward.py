"""A person referred on along the trail: Nepal → Lebanon (transit) → Jordan (destination)."""

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from services.referrals.tests.conftest import Flow, Json, Network, Org, ProblemCheck
from waymark_referrals.disclosures.service import verify_ledger


async def journey_of_three(flow: Flow, network: Network) -> tuple[Org, Org, Org, Json]:
    origin = await network.organization("NP")
    transit = await network.organization("LB", type="cso")
    destination = await network.organization("JO", type="cso")
    first = await flow.refer(origin, transit, await network.service(transit), migration_stage="transit")
    await flow.move(transit, first, "accepted")
    return origin, transit, destination, first


def onward_body(receiver: Org, **changes: Any) -> Json:
    return {
        "receiver_org_id": str(receiver.id), "migration_stage": "destination",
        "categories": ["legal_aid"], "urgency": "normal", "reason": "Continues to Amman",
        "shared_fields": ["given_name", "safe_contact"], **changes,
    }


async def test_the_receiver_refers_on_sharing_at_most_what_it_was_shared(
    flow: Flow, client: httpx.AsyncClient, network: Network, person: Json
) -> None:
    _origin, transit, destination, first = await journey_of_three(flow, network)
    onward = await client.post(
        f"/v1/referrals/{first['id']}/onward", headers=transit.headers,
        json=onward_body(destination),
    )
    assert onward.status_code == 201, onward.text
    leg = onward.json()
    assert leg["parent_referral_id"] == first["id"]
    assert leg["case_id"] == first["case_id"]
    assert (leg["sender_org_id"], leg["receiver_org_id"]) == (str(transit.id), str(destination.id))
    assert (leg["from_country"], leg["to_country"], leg["status"]) == ("LB", "JO", "requested")
    received = await client.get(f"/v1/referrals/{leg['id']}", headers=destination.headers)
    assert received.json()["person"] == {
        "given_name": person["given_name"], "safe_contact": person["safe_contact"],
    }


async def test_onward_is_refused_beyond_the_shared_fields_the_consent_or_the_status(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    origin, transit, destination, first = await journey_of_three(flow, network)
    path = f"/v1/referrals/{first['id']}/onward"
    problem(await client.post(path, headers=transit.headers, json=onward_body(
        destination, shared_fields=["given_name", "date_of_birth"]
    )), 422, "beyond-shared-fields")
    gulf = await network.organization("QA", type="cso")
    problem(await client.post(path, headers=transit.headers, json=onward_body(gulf)), 422,
            "outside-consent-scope")
    problem(await client.post(path, headers=origin.headers, json=onward_body(destination)), 403)
    stranger = await network.organization("JO")
    problem(await client.post(path, headers=stranger.headers, json=onward_body(destination)), 404)
    problem(await client.post(
        path, headers=transit.headers, json={**onward_body(destination), "case_id": str(uuid.uuid4())}
    ), 422, "validation-error")
    waiting = await flow.refer(origin, transit, None)
    problem(await client.post(
        f"/v1/referrals/{waiting['id']}/onward", headers=transit.headers,
        json=onward_body(destination),
    ), 409, "invalid-transition")


async def test_onward_with_an_idempotency_key_creates_one_leg(
    flow: Flow, client: httpx.AsyncClient, network: Network
) -> None:
    _origin, transit, destination, first = await journey_of_three(flow, network)
    headers = {**transit.headers, "Idempotency-Key": uuid.uuid4().hex}
    path = f"/v1/referrals/{first['id']}/onward"
    one = await client.post(path, headers=headers, json=onward_body(destination))
    two = await client.post(path, headers=headers, json=onward_body(destination))
    assert one.status_code == two.status_code == 201
    assert one.json()["id"] == two.json()["id"]
    assert two.headers["Idempotent-Replayed"] == "true"


async def test_the_journey_shows_the_owner_everything_and_others_their_legs(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    origin, transit, destination, first = await journey_of_three(flow, network)
    onward = (await client.post(
        f"/v1/referrals/{first['id']}/onward", headers=transit.headers,
        json=onward_body(destination),
    )).json()
    await flow.move(destination, onward, "accepted")
    back = await client.post(
        f"/v1/referrals/{onward['id']}/onward", headers=destination.headers,
        json=onward_body(origin, migration_stage="return", reason="Return and reintegration"),
    )
    # The owner's consent covers only LB and JO: a return to Nepal needs it widened first.
    assert back.status_code == 422
    path = f"/v1/cases/{first['case_id']}/journey"

    legs = await client.get(path, headers=origin.headers)
    assert legs.status_code == 200, legs.text
    assert [(leg["id"], leg["parent_referral_id"]) for leg in legs.json()["items"]] == [
        (first["id"], None), (onward["id"], first["id"]),
    ]
    assert [leg["migration_stage"] for leg in legs.json()["items"]] == ["transit", "destination"]
    assert all("person" not in leg and "reason" not in leg for leg in legs.json()["items"])
    seen_by_transit = await client.get(path, headers=transit.headers)
    assert [leg["id"] for leg in seen_by_transit.json()["items"]] == [first["id"], onward["id"]]
    seen_by_destination = await client.get(path, headers=destination.headers)
    assert [leg["id"] for leg in seen_by_destination.json()["items"]] == [onward["id"]]
    page = await client.get(path, headers=origin.headers, params={"limit": 1})
    rest = await client.get(
        path, headers=origin.headers, params={"cursor": page.json()["next_cursor"]}
    )
    assert [leg["id"] for leg in page.json()["items"] + rest.json()["items"]] == [
        first["id"], onward["id"],
    ]
    stranger = await network.organization("LB")
    problem(await client.get(path, headers=stranger.headers), 404)
    problem(await client.get(f"/v1/cases/{uuid.uuid4()}/journey", headers=origin.headers), 404)
    # The case itself stays the owner's alone.
    problem(await client.get(f"/v1/cases/{first['case_id']}", headers=transit.headers), 404)
    # The network admin reads each referral (without the person) and the network's statistics,
    # but not a person's path across borders.
    admin = network.issuer.headers(uuid.uuid4(), "network_admin")
    problem(await client.get(path, headers=admin), 404)
    assert (await client.get(f"/v1/referrals/{onward['id']}", headers=admin)).json()["person"] is None


async def test_withdrawal_mid_journey_cancels_every_open_leg_and_erases_what_was_shared(
    app: FastAPI, flow: Flow, client: httpx.AsyncClient, network: Network
) -> None:
    origin, transit, destination, first = await journey_of_three(flow, network)
    onward = (await client.post(
        f"/v1/referrals/{first['id']}/onward", headers=transit.headers,
        json=onward_body(destination),
    )).json()
    await client.get(f"/v1/referrals/{onward['id']}", headers=destination.headers)
    withdrawn = await client.delete(f"/v1/cases/{first['case_id']}/consent", headers=origin.headers)
    assert withdrawn.status_code == 200, withdrawn.text
    assert set(withdrawn.json()["cancelled_referral_ids"]) == {first["id"], onward["id"]}
    for reader, leg in ((transit, first), (destination, onward), (transit, onward)):
        seen = (await client.get(f"/v1/referrals/{leg['id']}", headers=reader.headers)).json()
        assert seen["status"] == "cancelled"
        assert seen["person"] is None
    ledger = await client.get(f"/v1/cases/{first['case_id']}/disclosures", headers=origin.headers)
    assert {entry["reader_org_id"] for entry in ledger.json()["items"]} == {
        str(transit.id), str(destination.id)
    }
    async with app.state.database.transaction() as session:
        assert (await verify_ledger(session)).intact
