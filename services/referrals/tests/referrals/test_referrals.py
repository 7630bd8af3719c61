import asyncio
import uuid
from typing import Any

import httpx

from services.referrals.tests.conftest import Flow, Json, Network, ProblemCheck
from waymark_kernel.testing import TestIssuer
from waymark_referrals.cases.schemas import Person
from waymark_referrals.referrals.schemas import ReferralCreate

SHARED = ["given_name", "phone", "safe_contact"]


async def test_a_referral_shows_the_shared_fields_to_sender_and_receiver_only(
    flow: Flow, client: httpx.AsyncClient, network: Network, issuer: TestIssuer, person: Json,
    problem: ProblemCheck,
) -> None:
    sender, receiver, service_id = await flow.pair()
    case = await flow.case(sender)
    created = await client.post(
        "/v1/referrals", headers=sender.headers, json=flow.referral_body(case, receiver, service_id)
    )
    assert created.status_code == 201, created.text
    referral = created.json()
    assert created.headers["ETag"] == '"1"'
    assert created.headers["Location"] == f"/v1/referrals/{referral['id']}"
    expected_person = {field: person[field] for field in SHARED}
    assert referral["person"] == expected_person
    assert {key: referral[key] for key in (
        "case_id", "sender_org_id", "receiver_org_id", "service_id", "from_country", "to_country",
        "status", "urgency", "version", "overdue", "shared_fields", "parent_referral_id",
    )} == {
        "case_id": case["id"], "sender_org_id": str(sender.id), "receiver_org_id": str(receiver.id),
        "service_id": str(service_id), "from_country": "NP", "to_country": "LB",
        "status": "requested", "urgency": "high", "version": 1, "overdue": False,
        "shared_fields": SHARED, "parent_referral_id": None,
    }

    seen = await client.get(f"/v1/referrals/{referral['id']}", headers=receiver.viewer)
    assert seen.status_code == 200
    assert seen.headers["ETag"] == '"1"'
    assert seen.json()["person"] == expected_person  # family name, birth date... never left
    problem(await client.get(f"/v1/cases/{case['id']}", headers=receiver.headers), 404)

    admin = await client.get(
        f"/v1/referrals/{referral['id']}", headers=issuer.headers(None, "network_admin")
    )
    assert admin.status_code == 200
    assert admin.json()["person"] is None


async def test_a_third_organisation_gets_404_as_for_a_missing_referral(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    sender, receiver, service_id = await flow.pair()
    referral = await flow.refer(sender, receiver, service_id)
    stranger = await network.organization("LB")
    missing = str(uuid.uuid4())
    for path in ("/v1/referrals/{}", "/v1/referrals/{}/history"):
        seen = problem(await client.get(path.format(referral["id"]), headers=stranger.headers), 404)
        absent = problem(await client.get(path.format(missing), headers=stranger.headers), 404)
        assert seen["detail"] == absent["detail"]
    moved = await client.post(
        f"/v1/referrals/{referral['id']}/transitions",
        headers={**stranger.headers, "If-Match": '"1"'}, json={"to": "accepted"},
    )
    problem(moved, 404)
    listed = await client.get("/v1/referrals", headers=stranger.headers)
    assert listed.json()["items"] == []


async def test_a_referral_needs_a_recorded_legal_basis(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    sender, receiver, service_id = await flow.pair()
    case = await flow.case(sender, consent=None)
    refused = await client.post(
        "/v1/referrals", headers=sender.headers, json=flow.referral_body(case, receiver, service_id)
    )
    assert "legal basis" in problem(refused, 422, "no-legal-basis")["detail"]


async def test_vital_interest_with_a_justification_is_a_legal_basis(
    flow: Flow, client: httpx.AsyncClient, network: Network
) -> None:
    sender, receiver, service_id = await flow.pair()
    case = await flow.case(sender, consent={
        "legal_basis": "vital_interest", "given_at": "2026-01-01T00:00:00Z",
        "justification": "Medical emergency; she cannot be asked",
    })
    await flow.refer(sender, receiver, service_id, case=case)


async def test_receiver_service_and_consent_scope_are_checked(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    sender, receiver, service_id = await flow.pair()
    case = await flow.case(sender)

    async def refused(kind: str, headers: dict[str, str]=sender.headers, **changes: Any) -> None:
        body = flow.referral_body(case, receiver, service_id)
        response = await client.post("/v1/referrals", headers=headers, json={**body, **changes})
        problem(response, 422, kind)

    await refused("unknown-receiver", receiver_org_id=str(uuid.uuid4()))
    await refused("unknown-receiver", receiver_org_id=str(sender.id), service_id=None)
    await refused("unknown-case", case_id=str(uuid.uuid4()))
    other = await network.organization("NP")
    await refused("unknown-case", headers=other.headers)
    await refused("service-unavailable", service_id=str(uuid.uuid4()))
    await refused("service-unavailable", service_id=str(await network.service(other)))
    inactive = await network.service(receiver, status="inactive")
    await refused("service-unavailable", service_id=str(inactive))
    not_accepting = await network.service(receiver, accepts_referrals=False)
    await refused("service-unavailable", service_id=str(not_accepting))
    deleted = await network.service(receiver)
    await network.delete_service(receiver, deleted)
    await refused("service-unavailable", service_id=str(deleted))

    in_thailand = await network.organization("TH", type="cso")
    await refused("outside-consent-scope", receiver_org_id=str(in_thailand.id), service_id=None)
    narrow = await flow.case(sender, consent={
        "legal_basis": "consent", "given_at": "2026-01-01T00:00:00Z",
        "scope": [{"countries": ["LB"], "organization_types": ["national_society"]}],
    })
    await refused("outside-consent-scope", case_id=narrow["id"])
    unrestricted = await flow.case(sender, consent={
        "legal_basis": "consent", "given_at": "2026-01-01T00:00:00Z"})
    await flow.refer(sender, in_thailand, None, case=unrestricted)
    listed = await client.get("/v1/referrals", headers=sender.headers)
    assert len(listed.json()["items"]) == 1


async def test_without_a_service_the_referral_goes_to_the_receivers_country(
    flow: Flow, network: Network
) -> None:
    sender, receiver, _ = await flow.pair()
    service_in_jordan = await network.service(receiver, countries=["JO", "LB"])
    to_receiver = await flow.refer(sender, receiver, None)
    to_service = await flow.refer(sender, receiver, service_in_jordan)
    assert (to_receiver["to_country"], to_service["to_country"]) == ("LB", "JO")


async def test_unknown_and_invalid_fields_are_422(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    sender, receiver, service_id = await flow.pair()
    case = await flow.case(sender)
    body = flow.referral_body(case, receiver, service_id)
    for changes in (
        {"priority": "high"}, {"urgency": "whenever"}, {"status": "accepted"},
        {"shared_fields": ["given_name", "legal_status"]}, {"categories": ["x"] * 21},
        {"reason": ""}, {"migration_stage": "somewhere"}, {"case_id": "not-a-uuid"},
    ):
        invalid = {**body, **changes}
        problem(await client.post("/v1/referrals", headers=sender.headers, json=invalid), 422)
    assert (await client.get("/v1/referrals", headers=sender.headers)).json()["items"] == []
    problem(await client.post("/v1/referrals", headers=sender.viewer, json=body), 403)


async def test_idempotency_key_replays_the_first_response(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    sender, receiver, service_id = await flow.pair()
    case = await flow.case(sender)
    body = flow.referral_body(case, receiver, service_id)
    headers = {**sender.headers, "Idempotency-Key": "c0ffee-1"}
    first = await client.post("/v1/referrals", headers=headers, json=body)
    again = await client.post("/v1/referrals", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"

    changed = await client.post("/v1/referrals", headers=headers, json={**body, "urgency": "low"})
    problem(changed, 422, "idempotency-key-reused")

    other_sender = await network.organization("NP")
    other_case = await flow.case(other_sender)
    elsewhere = await client.post(
        "/v1/referrals", headers={**other_sender.headers, "Idempotency-Key": "c0ffee-1"},
        json=flow.referral_body(other_case, receiver, service_id),
    )
    assert elsewhere.status_code == 201
    assert elsewhere.json()["id"] != first.json()["id"]
    listed = await client.get("/v1/referrals", headers=sender.headers)
    assert [item["id"] for item in listed.json()["items"]] == [first.json()["id"]]


async def test_a_draft_is_the_senders_alone_until_requested(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    sender, receiver, service_id = await flow.pair()
    draft = await flow.refer(sender, receiver, service_id, status="draft")
    assert draft["status"] == "draft"
    assert draft["respond_by"] is None
    problem(await client.get(f"/v1/referrals/{draft['id']}", headers=receiver.headers), 404)
    received = await client.get("/v1/referrals", headers=receiver.headers)
    assert received.json()["items"] == []

    requested = await flow.move(sender, draft, "requested")
    assert requested.status_code == 200, requested.text
    assert requested.json()["respond_by"] is not None
    seen = await client.get(f"/v1/referrals/{draft['id']}", headers=receiver.headers)
    assert seen.status_code == 200
    assert seen.json()["status"] == "requested"


async def test_lists_filter_and_page(
    flow: Flow, client: httpx.AsyncClient, network: Network
) -> None:
    sender, receiver, service_id = await flow.pair()
    jordan = await network.organization("JO", type="cso")
    to_lebanon = await flow.refer(sender, receiver, service_id, urgency="low")
    to_jordan = await flow.refer(sender, jordan, None, urgency="emergency")
    back = await flow.refer(receiver, sender, None, case=await flow.case(receiver, consent={
        "legal_basis": "consent", "given_at": "2026-01-01T00:00:00Z"}))
    await flow.move(receiver, to_lebanon, "accepted")

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/v1/referrals", headers=sender.headers, params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids() == [back["id"], to_jordan["id"], to_lebanon["id"]]
    assert await ids(role="sent") == [to_jordan["id"], to_lebanon["id"]]
    assert await ids(role="received") == [back["id"]]
    assert await ids(status="accepted") == [to_lebanon["id"]]
    both = [to_jordan["id"], to_lebanon["id"]]
    assert await ids(status=["accepted", "requested"], role="sent") == both
    assert await ids(country="JO") == [to_jordan["id"]]
    assert await ids(urgency="emergency") == [to_jordan["id"]]
    assert await ids(overdue="true") == []
    assert len(await ids(overdue="false")) == 3

    page = await client.get("/v1/referrals", headers=sender.headers, params={"limit": 2})
    assert len(page.json()["items"]) == 2
    rest = await client.get(
        "/v1/referrals", headers=sender.headers, params={"cursor": page.json()["next_cursor"]}
    )
    assert [item["id"] for item in rest.json()["items"]] == [to_lebanon["id"]]
    assert rest.json()["next_cursor"] is None
    for params in ({"limit": 101}, {"role": "both"}, {"cursor": "garbage"}, {"country": "Lebanon"}):
        response = await client.get("/v1/referrals", headers=sender.headers, params=params)
        assert response.status_code in (400, 422), response.text


async def test_concurrent_retries_with_one_key_create_one_referral(
    flow: Flow, client: httpx.AsyncClient, network: Network
) -> None:
    sender, receiver, service_id = await flow.pair()
    case = await flow.case(sender)
    headers = {**sender.headers, "Idempotency-Key": uuid.uuid4().hex}
    body = flow.referral_body(case, receiver, service_id)
    responses = await asyncio.gather(*(
        client.post("/v1/referrals", headers=headers, json=body) for _ in range(5)
    ))
    # A retry while the first is in flight is 409; one that comes after answers the first.
    assert {response.status_code for response in responses} <= {201, 409}
    created = {response.json()["id"] for response in responses if response.status_code == 201}
    retried = await client.post("/v1/referrals", headers=headers, json=body)
    assert retried.status_code == 201
    assert created == {retried.json()["id"]}
    sent = await client.get("/v1/referrals", headers=sender.headers, params={"role": "sent"})
    assert [item["id"] for item in sent.json()["items"]] == [retried.json()["id"]]


def test_every_field_of_the_person_and_only_those_may_be_shared() -> None:
    document = ReferralCreate.model_json_schema()
    shareable = document["properties"]["shared_fields"]["items"]
    assert sorted(document["$defs"][shareable["$ref"].rsplit("/", 1)[1]]["enum"]) == sorted(
        Person.model_fields
    )
