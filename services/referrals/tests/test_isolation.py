"""The isolation matrix: three organisations refer in a ring (A → B → C → A). For each referral
the third organisation gets 404 on every endpoint that takes its id or its case's id, exactly as
for ids that do not exist, and its lists never show what is not its own."""

import uuid

import httpx

from services.referrals.tests.conftest import Flow, Json, Network, Org, ProblemCheck

CONSENT = {"legal_basis": "consent", "given_at": "2026-01-20T10:00:00Z"}


def case_requests(case_id: str) -> list[tuple[str, str, Json | None]]:
    return [
        ("GET", f"/v1/cases/{case_id}", None),
        ("PATCH", f"/v1/cases/{case_id}", {"vulnerabilities": []}),
        ("PUT", f"/v1/cases/{case_id}/consent", CONSENT),
        ("DELETE", f"/v1/cases/{case_id}/consent", None),
        ("GET", f"/v1/cases/{case_id}/disclosures", None),
    ]


def referral_requests(referral_id: str, receiver_id: str) -> list[tuple[str, str, Json | None]]:
    return [
        ("GET", f"/v1/referrals/{referral_id}", None),
        ("POST", f"/v1/referrals/{referral_id}/transitions", {"to": "accepted"}),
        ("GET", f"/v1/referrals/{referral_id}/history", None),
        ("GET", f"/v1/referrals/{referral_id}/comments", None),
        ("POST", f"/v1/referrals/{referral_id}/comments", {"text": "hello"}),
        ("POST", f"/v1/referrals/{referral_id}/onward", {
            "receiver_org_id": receiver_id, "migration_stage": "destination", "reason": "on",
        }),
    ]


async def test_every_endpoint_answers_404_for_another_organisations_ids(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    orgs = [
        # The test consent covers Lebanon and Jordan.
        await network.organization("LB"), await network.organization("JO", type="cso"),
        await network.organization("LB", type="cso"),
    ]
    ring = []
    for index, sender in enumerate(orgs):
        receiver = orgs[(index + 1) % 3]
        referral = await flow.refer(sender, receiver, None)
        await flow.move(receiver, referral, "accepted")
        await client.get(f"/v1/referrals/{referral['id']}", headers=receiver.headers)  # disclosed
        for author in (sender, receiver):
            await client.post(
                f"/v1/referrals/{referral['id']}/comments", headers=author.headers,
                json={"text": f"from {author.id}"},
            )
        draft = await flow.refer(sender, receiver, None, status="draft")
        ring.append((sender, receiver, orgs[(index + 2) % 3], referral, draft))

    async def refused(org: Org, method: str, path: str, body: Json | None) -> None:
        headers = {**org.headers, "If-Match": '"2"'}
        response = await client.request(method, path, headers=headers, json=body)
        problem(response, 404)

    for sender, receiver, stranger, referral, draft in ring:
        case_id = referral["case_id"]
        for method, path, body in case_requests(case_id):
            await refused(stranger, method, path, body)
            await refused(receiver, method, path, body)  # a receiver never reads the case itself
        await refused(stranger, "GET", f"/v1/cases/{case_id}/journey", None)
        for method, path, body in referral_requests(referral["id"], str(sender.id)):
            await refused(stranger, method, path, body)
        for method, path, body in referral_requests(draft["id"], str(sender.id)):
            await refused(receiver, method, path, body)  # a draft is its sender's alone
        for method, path, body in [
            *case_requests(str(uuid.uuid4())),
            *referral_requests(str(uuid.uuid4()), str(sender.id)),
        ]:
            await refused(sender, method, path, body)

    for org in orgs:
        mine = [entry for entry in ring if org in entry[:2]]
        cases = await client.get("/v1/cases", headers=org.headers, params={"limit": 100})
        assert {case["id"] for case in cases.json()["items"]} == {
            leg["case_id"] for sender, _, _, referral, draft in ring if sender is org
            for leg in (referral, draft)
        }
        listed = await client.get("/v1/referrals", headers=org.headers, params={"limit": 100})
        assert {item["id"] for item in listed.json()["items"]} == {
            referral["id"] for _, _, _, referral, _ in mine
        } | {draft["id"] for sender, _, _, _, draft in ring if sender is org}
        for sender, receiver, _, referral, _ in mine:
            comments = await client.get(
                f"/v1/referrals/{referral['id']}/comments", headers=org.headers
            )
            assert {item["author_org_id"] for item in comments.json()["items"]} == {
                str(sender.id), str(receiver.id)
            }
            if sender is org:
                ledger = await client.get(
                    f"/v1/cases/{referral['case_id']}/disclosures", headers=org.headers
                )
                assert {entry["referral_id"] for entry in ledger.json()["items"]} == {
                    referral["id"]
                }
                assert {entry["reader_org_id"] for entry in ledger.json()["items"]} == {
                    str(receiver.id)
                }
        for _, _, _, referral, _ in ring:
            journey = await client.get(f"/v1/cases/{referral['case_id']}/journey",
                                       headers=org.headers)
            if any(referral is entry[3] for entry in mine):
                assert [leg["id"] for leg in journey.json()["items"]] == [referral["id"]]
