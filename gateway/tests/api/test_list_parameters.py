"""Issue 17, finding 7: whatever query a caller sends to any list endpoint of the network (its
`cursor`, `after` and `limit`, and every filter it documents), the answer is never a 5xx: a
cursor the API did not write is a 400."""

import base64
import json
import re
import time
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.flow import PERSON

PAGING = {"cursor", "after", "limit"}
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.datetimes(timezones=st.timezones()).map(str) | st.uuids().map(str),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=5,
)
CURSORS = st.one_of(
    st.text(max_size=60),
    JSON_VALUES.map(lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).decode()),
    st.lists(JSON_VALUES, min_size=1, max_size=2).map(
        lambda key: base64.urlsafe_b64encode(
            json.dumps(key, separators=(",", ":"), ensure_ascii=False).encode()
        ).decode()
    ),
)
LIMITS = st.one_of(st.integers(-3, 130).map(str), st.text(max_size=8))
# Any other query parameter: text of every kind, and the forms its documented type takes.
FILTERS = st.one_of(
    st.text(max_size=30), st.integers().map(str), st.floats().map(str),
    st.sampled_from(["true", "false", "NP", "LB", "legal", "requested", "high"]),
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda moment: moment.isoformat()),
    st.dates().map(str), st.uuids().map(str),
)
NEAR = {"lat": 33.89, "lon": 35.5, "radius_km": 50}  # search pages by distance
# (path, headers of a caller who may list it, its query parameters as the API document gives them)
ListEndpoint = tuple[str, dict[str, str], list[dict[str, Any]]]


def a_referral(api: httpx.Client, caseworker: dict[str, str]) -> dict[str, Any]:
    """A referral of a new Nepal case to a Lebanese demo service."""
    case = api.post("/v1/cases", headers=caseworker, json={
        "person": PERSON, "vulnerabilities": ["domestic_worker"],
    }).json()
    consent = api.put(f"/v1/cases/{case['id']}/consent", headers=caseworker, json={
        "legal_basis": "consent", "scope": {"countries": ["LB"]},
        "given_at": "2026-11-20T10:00:00Z", "method": "verbal",
    })
    assert consent.status_code == 200, consent.text
    [service, *_] = api.get("/v1/services", headers=caseworker, params={
        "country": "LB", "accepts_referrals": "true", "category": "legal",
    }).json()["items"]
    body = {
        "case_id": case["id"], "receiver_org_id": service["organization_id"],
        "service_id": service["id"], "migration_stage": "destination",
        "categories": ["legal"], "urgency": "normal", "reason": "Paging test",
        "shared_fields": ["given_name"],
    }
    def refer() -> httpx.Response:
        return api.post("/v1/referrals", headers={
            **caseworker, "Idempotency-Key": uuid.uuid4().hex,
        }, json=body)

    referral = refer()
    for _ in range(49):  # the referrals service learns of the demo services from events
        if referral.status_code == 201:
            break
        time.sleep(0.2)
        referral = refer()
    assert referral.status_code == 201, referral.text
    created: dict[str, Any] = referral.json()
    return created


@pytest.fixture(scope="module")
def list_endpoints(
    api: httpx.Client, admin: dict[str, str], nepal: dict[str, Any],
    nepal_caseworker: dict[str, str], lebanon_admin: dict[str, str],
) -> list[ListEndpoint]:
    """(path, headers of a caller who may list it, its query parameters) of every GET of the
    API document that takes a page parameter, its path filled with ids of real objects."""
    referral = a_referral(api, nepal_caseworker)
    ids = {"organization_id": nepal["id"], "case_id": referral["case_id"],
           "referral_id": referral["id"], "subscription_id": str(uuid.uuid4())}
    endpoints: list[ListEndpoint] = []
    for path, operations in api.get("/openapi.json").json()["paths"].items():
        query = [parameter for parameter in operations.get("get", {}).get("parameters", [])
                 if parameter["in"] == "query"]
        if not {parameter["name"] for parameter in query} & PAGING:
            continue
        filled = re.sub(r"\{(\w+)\}", lambda found: ids[found.group(1)], path)
        callers = [nepal_caseworker, lebanon_admin, admin]
        fitting = [h for h in callers if api.get(filled, headers=h).status_code == 200]
        endpoints.append((filled, (fitting or [admin])[0], query))
    assert len(endpoints) >= 14
    return endpoints


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_finding_7_no_query_makes_any_list_endpoint_fail(
    api: httpx.Client, list_endpoints: list[ListEndpoint], data: st.DataObject
) -> None:
    path, headers, query = data.draw(st.sampled_from(list_endpoints), label="endpoint")
    given = {"cursor": CURSORS, "after": CURSORS, "limit": LIMITS}
    params: dict[str, Any] = data.draw(st.fixed_dictionaries({}, optional={
        parameter["name"]: given.get(parameter["name"], FILTERS)
        | st.sampled_from(parameter["schema"].get("enum") or [""])
        for parameter in query
    }), label="params")
    if path == "/v1/services" and data.draw(st.booleans(), label="near"):
        params |= NEAR

    response = api.get(path, params=params, headers=headers)

    assert response.status_code < 500, (path, params, response.text)
    if response.status_code == 400:
        # A NUL anywhere in a query is refused before any route reads it (finding 9).
        refusals = ("/invalid-cursor", "/nul-character") if any(
            "\x00" in str(value) for value in params.values()) else ("/invalid-cursor",)
        assert response.json()["type"].endswith(refusals), (path, params, response.text)
