import re
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from services.referrals.tests.conftest import Flow, Json, Network, ProblemCheck
from waymark_kernel.testing import TestIssuer


async def test_case_is_created_read_and_listed_by_its_organisation(
    flow: Flow, client: httpx.AsyncClient, network: Network, person: Json
) -> None:
    org = await network.organization("NP")
    created = await client.post("/v1/cases", headers=org.headers, json={
        "person": person, "vulnerabilities": ["victim_of_trafficking", "domestic_worker"],
    })
    assert created.status_code == 201, created.text
    case = created.json()
    assert created.headers["Location"] == f"/v1/cases/{case['id']}"
    assert re.fullmatch(r"NP-\d{4}-000001", case["reference"])
    assert case["person"] == {**person, "age_estimate": None}
    assert case["consent"] is None
    assert case["organization_id"] == str(org.id)

    read = await client.get(f"/v1/cases/{case['id']}", headers=org.viewer)
    assert read.status_code == 200
    assert read.json() == case

    second = await flow.case(org, consent=None)
    assert second["reference"].endswith("-000002")
    listed = await client.get("/v1/cases", headers=org.headers, params={"limit": 1})
    assert [item["id"] for item in listed.json()["items"]] == [second["id"]]
    rest = await client.get(
        "/v1/cases", headers=org.headers, params={"cursor": listed.json()["next_cursor"]}
    )
    assert [item["id"] for item in rest.json()["items"]] == [case["id"]]
    assert rest.json()["next_cursor"] is None
    found = await client.get(
        "/v1/cases", headers=org.headers, params={"reference": case["reference"]}
    )
    assert [item["id"] for item in found.json()["items"]] == [case["id"]]


async def test_reference_counts_per_organisation_and_needs_no_personal_data(
    client: httpx.AsyncClient, network: Network, issuer: TestIssuer
) -> None:
    unknown_org = uuid.uuid4()  # not (yet) in the directory: the person's country is used
    headers = issuer.headers(unknown_org, "org_admin")
    first = await client.post(
        "/v1/cases", headers=headers, json={"person": {"current_country": "TH"}}
    )
    anonymous = await client.post("/v1/cases", headers=headers, json={"person": {}})
    other_org = await network.organization("NP")
    other = await client.post("/v1/cases", headers=other_org.headers, json={"person": {}})
    assert first.json()["reference"].startswith("TH-")
    assert first.json()["reference"].endswith("-000001")
    assert anonymous.json()["reference"].startswith("XX-")
    assert other.json()["reference"].endswith("-000001")


async def test_another_organisation_gets_404_for_a_case(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    owner = await network.organization("NP")
    stranger = await network.organization("NP")
    case = await flow.case(owner)
    for method, path, body in (
        ("GET", f"/v1/cases/{case['id']}", None),
        ("PATCH", f"/v1/cases/{case['id']}", {"vulnerabilities": []}),
        ("PUT", f"/v1/cases/{case['id']}/consent",
         {"legal_basis": "consent", "given_at": "2026-01-01T00:00:00Z"}),
        ("DELETE", f"/v1/cases/{case['id']}/consent", None),
    ):
        response = await client.request(method, path, headers=stranger.headers, json=body)
        problem(response, 404)
        missing = await client.request(
            method, path.replace(case["id"], str(uuid.uuid4())), headers=owner.headers, json=body
        )
        assert missing.json()["detail"] == response.json()["detail"]
    listed = await client.get("/v1/cases", headers=stranger.headers)
    assert listed.json()["items"] == []


async def test_a_viewer_may_read_but_not_write_cases(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    org = await network.organization("NP")
    problem(await client.post("/v1/cases", headers=org.viewer, json={"person": {}}), 403)
    case = await flow.case(org)
    problem(await client.patch(
        f"/v1/cases/{case['id']}", headers=org.viewer, json={"vulnerabilities": []}), 403)
    problem(await client.delete(f"/v1/cases/{case['id']}/consent", headers=org.viewer), 403)
    assert (await client.get(f"/v1/cases/{case['id']}", headers=org.viewer)).status_code == 200


async def test_patch_merges_the_person(
    flow: Flow, client: httpx.AsyncClient, network: Network, person: Json, problem: ProblemCheck
) -> None:
    org = await network.organization("NP")
    case = await flow.case(org)
    patched = await client.patch(f"/v1/cases/{case['id']}", headers=org.headers, json={
        "person": {"phone": "+96170000000", "safe_contact": None}, "vulnerabilities": ["pregnant"],
    })
    assert patched.status_code == 200, patched.text
    assert patched.json()["person"] == {
        **person, "age_estimate": None, "phone": "+96170000000", "safe_contact": None
    }
    assert patched.json()["vulnerabilities"] == ["pregnant"]
    assert patched.json()["consent"] == case["consent"]
    both = await client.patch(
        f"/v1/cases/{case['id']}", headers=org.headers, json={"person": {"age_estimate": 30}}
    )
    assert person["date_of_birth"] not in problem(both, 422)["detail"]


async def test_consent_is_recorded_and_vital_interest_needs_a_justification(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    org = await network.organization("NP")
    case = await flow.case(org, consent=None)
    unjustified = await client.put(f"/v1/cases/{case['id']}/consent", headers=org.headers, json={
        "legal_basis": "vital_interest", "given_at": "2026-01-01T00:00:00Z", "justification": " ",
    })
    problem(unjustified, 422, "validation-error")
    justified = await client.put(f"/v1/cases/{case['id']}/consent", headers=org.headers, json={
        "legal_basis": "vital_interest", "given_at": "2026-01-01T00:00:00Z",
        "justification": "Unconscious after an assault; the shelter must know where she is",
    })
    assert justified.status_code == 200, justified.text
    consent = justified.json()["consent"]
    assert consent["legal_basis"] == "vital_interest"
    assert consent["scope"] == []
    assert consent["recorded_by"].startswith("test-")
    assert consent["recorded_at"]
    # A single scope object is taken as a one-item list.
    single = await client.put(f"/v1/cases/{case['id']}/consent", headers=org.headers, json={
        "legal_basis": "consent", "scope": {"countries": ["LB"]},
        "given_at": "2026-01-01T00:00:00Z",
    })
    assert single.json()["consent"]["scope"] == [{"countries": ["LB"], "organization_types": None}]


async def test_bad_case_input_is_422_and_changes_nothing(
    client: httpx.AsyncClient, network: Network, person: Json, problem: ProblemCheck
) -> None:
    org = await network.organization("NP")
    for body in (
        {"person": person, "legal_status": "irregular"},
        {"person": {**person, "immigration_status": "undocumented"}},
        {"person": {**person, "nationality": "Nepal"}},
        {"person": {**person, "age_estimate": 31}},
        {"person": {**person, "given_name": "x" * 101}},
        {"person": person, "vulnerabilities": ["unknown_vulnerability"]},
        {"person": person, "consent": {"legal_basis": "consent"}},
        {},
    ):
        invalid = problem(await client.post("/v1/cases", headers=org.headers, json=body), 422)
        assert person["phone"] not in str(invalid)
        assert person["given_name"] not in str(invalid)
    assert (await client.get("/v1/cases", headers=org.headers)).json()["items"] == []
    case = (await client.post("/v1/cases", headers=org.headers, json={"person": {}})).json()
    for consent in (
        {"legal_basis": "consent", "given_at": "2026-01-01T00:00:00Z", "extra": True},
        {"legal_basis": "hunch", "given_at": "2026-01-01T00:00:00Z"},
        {"legal_basis": "consent", "given_at": "2026-01-01T00:00:00"},
        {"legal_basis": "consent", "given_at": "2999-01-01T00:00:00Z"},
        {"legal_basis": "consent", "given_at": "2026-01-01T00:00:00Z",
         "scope": [{"cities": ["x"]}]},
    ):
        path = f"/v1/cases/{case['id']}/consent"
        problem(await client.put(path, headers=org.headers, json=consent), 422)
    patched = await client.patch(
        f"/v1/cases/{case['id']}", headers=org.headers, json={"reference": "x"}
    )
    problem(patched, 422)


async def test_personal_data_is_only_ciphertext_at_rest(
    app: FastAPI, flow: Flow, network: Network, person: Json
) -> None:
    org = await network.organization("NP")
    unique = dict(
        person, given_name=f"Anjali{uuid.uuid4().hex[:8]}", phone=f"+97798{uuid.uuid4().hex[:8]}"
    )
    case = await flow.case(org, person=unique)
    receiver = await network.organization("LB", type="cso")
    referral = await flow.refer(org, receiver, None, case=case)
    await flow.client.post(
        f"/v1/referrals/{referral['id']}/transitions",
        headers={**receiver.headers, "If-Match": '"1"', "Idempotency-Key": "k1"},
        json={"to": "accepted"},
    )  # its first answer is kept for retries, without the person
    await flow.client.post(
        f"/v1/referrals/{referral['id']}/comments", headers=org.headers,
        json={"text": f"{unique['given_name']} calls on Sunday"},
    )

    async with app.state.database.transaction() as session:
        dumped = []
        for table in ("referrals_cases", "referrals_shared_persons", "referrals_referrals",
                      "referrals_referral_transitions", "referrals_idempotent_requests",
                      "referrals_comments", "referrals_disclosures", "outbox"):
            rows = await session.execute(text(f"SELECT * FROM {table}"))
            dumped += [repr(tuple(row)) for row in rows]
        key_ids = await session.execute(text("SELECT DISTINCT key_id FROM referrals_cases"))
        assert app.state.cipher.key_id in set(key_ids.scalars())
    dump = "\n".join(dumped)
    # the rows are there (SQLite keeps a UUID as 32 hex digits)...
    assert case["id"] in dump or uuid.UUID(case["id"]).hex in dump
    for value in (unique["given_name"], unique["family_name"], unique["phone"],
                  unique["date_of_birth"], unique["safe_contact"], "explained in Nepali"):
        assert value not in dump  # ...but not the person
