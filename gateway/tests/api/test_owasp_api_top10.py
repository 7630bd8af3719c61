"""The OWASP API Security Top 10 (2023) items that apply to Waymark, each as named tests
against the running standalone network, through the gateway."""

import io
import stat
import statistics
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from gateway.tests.api.conftest import LimitedNetwork
from tests.e2e.flow import PERSON
from tests.e2e.support import ADMIN_SECRET, Network, start, stop

pytestmark = pytest.mark.integration  # starts networks of processes

SERVICE = {
    "name": "Shelter intake (test)", "description": "Emergency shelter", "status": "active",
    "categories": ["legal"], "accepts_referrals": True, "languages": ["en"],
    "populations": ["all_migrants"], "migration_stages": ["destination"],
    "locations": [{
        "name": "Safe house", "address": "12 Hidden Street", "city": "Beirut", "country": "LB",
        "latitude": 33.8938, "longitude": 35.5018, "confidential": True,
    }],
}


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def a_case(api: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    return created(api.post("/v1/cases", headers=headers, json={
        "person": PERSON, "vulnerabilities": ["domestic_worker"],
    }))


# API1:2023 Broken Object Level Authorization


def test_api1_another_organisations_case_answers_404_like_a_missing_one(
    api: httpx.Client, nepal_caseworker: dict[str, str], lebanon_caseworker: dict[str, str]
) -> None:
    case = a_case(api, nepal_caseworker)

    theirs = api.get(f"/v1/cases/{case['id']}", headers=lebanon_caseworker)
    missing = api.get(f"/v1/cases/{uuid.uuid4()}", headers=lebanon_caseworker)
    patched = api.patch(
        f"/v1/cases/{case['id']}", headers=lebanon_caseworker, json={"vulnerabilities": []}
    )
    journey = api.get(f"/v1/cases/{case['id']}/journey", headers=lebanon_caseworker)

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["detail"] == missing.json()["detail"]
    assert patched.status_code == 404
    assert journey.status_code == 404
    assert api.get(f"/v1/cases/{case['id']}", headers=nepal_caseworker).status_code == 200


def test_api1_another_organisations_cases_are_never_listed(
    api: httpx.Client, nepal_caseworker: dict[str, str], lebanon_caseworker: dict[str, str]
) -> None:
    case = a_case(api, nepal_caseworker)

    listed = api.get("/v1/cases", headers=lebanon_caseworker, params={"limit": 100}).json()

    assert case["id"] not in {item["id"] for item in listed["items"]}


# API2:2023 Broken Authentication


def test_api2_forged_unsigned_expired_and_query_string_tokens_are_refused(
    api: httpx.Client, nepal_caseworker: dict[str, str]
) -> None:
    genuine = nepal_caseworker["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    now = int(time.time())
    tokens = {
        "alg none": jwt.encode({**claims, "roles": ["network_admin"]}, "", algorithm="none"),
        "tampered": genuine[:-4] + ("AAAA" if not genuine.endswith("AAAA") else "BBBB"),
        "expired": jwt.encode(
            {**claims, "iat": now - 900, "exp": now - 60}, "k" * 32, algorithm="HS256",
            headers={"kid": jwt.get_unverified_header(genuine)["kid"]},
        ),
    }

    for reason, token in tokens.items():
        response = api.get("/v1/cases", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, reason
    in_url = api.get("/v1/cases", params={"access_token": genuine})
    assert in_url.status_code == 401
    assert api.get("/v1/cases").status_code == 401


def test_api2_a_wrong_secret_and_an_unknown_client_get_one_answer(api: httpx.Client) -> None:
    wrong = api.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": "network-admin", "client_secret": "x",
    })
    unknown = api.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": "wm_nobody", "client_secret": "x",
    })

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


# API3:2023 Broken Object Property Level Authorization


def test_api3_a_patch_cannot_move_a_service_to_another_organisation(
    api: httpx.Client, lebanon_admin: dict[str, str], lebanon: dict[str, Any], nepal: dict[str, Any]
) -> None:
    service = created(api.post(
        "/v1/services", headers=lebanon_admin, json={**SERVICE, "organization_id": lebanon["id"]}
    ))

    moved = api.patch(
        f"/v1/services/{service['id']}", headers=lebanon_admin,
        json={"organization_id": nepal["id"]},
    )

    assert moved.status_code == 422
    after = api.get(f"/v1/services/{service['id']}", headers=lebanon_admin).json()
    assert after["organization_id"] == lebanon["id"]


def test_api3_a_patch_cannot_set_a_cases_organisation_or_a_referrals_status(
    api: httpx.Client, nepal_caseworker: dict[str, str], lebanon: dict[str, Any]
) -> None:
    case = a_case(api, nepal_caseworker)

    moved = api.patch(
        f"/v1/cases/{case['id']}", headers=nepal_caseworker,
        json={"organization_id": lebanon["id"]},
    )
    status = api.patch(
        f"/v1/referrals/{uuid.uuid4()}", headers=nepal_caseworker, json={"status": "completed"}
    )

    assert moved.status_code == 422
    assert status.status_code == 405  # a status changes only through a checked transition


def test_api3_a_confidential_locations_place_is_hidden_from_other_organisations(
    api: httpx.Client, lebanon_admin: dict[str, str], lebanon: dict[str, Any],
    nepal_caseworker: dict[str, str],
) -> None:
    service = created(api.post(
        "/v1/services", headers=lebanon_admin,
        json={**SERVICE, "organization_id": lebanon["id"]},
    ))

    seen = api.get(f"/v1/services/{service['id']}", headers=nepal_caseworker).json()
    owned = api.get(f"/v1/services/{service['id']}", headers=lebanon_admin).json()

    [location] = seen["locations"]
    assert location["name"] is None
    assert location["address"] is None
    assert location["latitude"] is None
    assert location["longitude"] is None
    assert owned["locations"][0]["address"] == "12 Hidden Street"


def test_api3_client_listings_never_show_a_secret(
    api: httpx.Client, admin: dict[str, str], nepal: dict[str, Any]
) -> None:
    listed = api.get(f"/v1/organizations/{nepal['id']}/clients", headers=admin).json()

    assert listed["items"]
    assert all(set(item) == {
        "client_id", "name", "roles", "organization_id", "created_at", "revoked_at",
    } for item in listed["items"])


# Finding 1: an organisation's type and country are properties its verification vouches for
# and consent scopes name; its own org_admin may not set them (function-level trust).


def refer_once_known(
    api: httpx.Client, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    """The referrals service learns of a new organisation from the registry's events."""
    response = api.post("/v1/referrals", headers=headers, json=body)
    for _ in range(99):
        if response.status_code != 422 or not response.json()["type"].endswith("unknown-receiver"):
            return response
        time.sleep(0.2)
        response = api.post("/v1/referrals", headers=headers, json=body)
    return response


def test_api3_finding_1_an_org_admin_cannot_relabel_its_organisation_past_a_consent_scope(
    api: httpx.Client, admin: dict[str, str], nepal_caseworker: dict[str, str]
) -> None:
    organisation = created(api.post("/v1/organizations", headers=admin, json={
        "name": f"Relabelling CSO {uuid.uuid4().hex[:6]}", "type": "cso", "country": "LB",
        "verified": True,
    }))
    credentials = created(api.post(
        f"/v1/organizations/{organisation['id']}/clients", headers=admin,
        json={"name": "relabelling", "roles": ["org_admin"]},
    ))
    own_admin = {"Authorization": "Bearer " + api.post("/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
    }).json()["access_token"]}
    case = a_case(api, nepal_caseworker)
    assert api.put(f"/v1/cases/{case['id']}/consent", headers=nepal_caseworker, json={
        "legal_basis": "consent", "given_at": "2026-01-01T00:00:00Z",
        "scope": [{"organization_types": ["national_society"]}],
    }).status_code == 200
    referral = {
        "case_id": case["id"], "receiver_org_id": organisation["id"],
        "migration_stage": "destination", "categories": ["legal"], "urgency": "normal",
        "reason": "Unpaid wages", "shared_fields": ["phone"],
    }
    before = refer_once_known(api, nepal_caseworker, referral)

    relabelled = api.patch(
        f"/v1/organizations/{organisation['id']}", headers=own_admin,
        json={"type": "national_society", "country": "FR"},
    )
    after = refer_once_known(api, nepal_caseworker, referral)

    assert relabelled.status_code == 403
    assert api.get(f"/v1/organizations/{organisation['id']}", headers=admin).json() == organisation
    for refused in (before, after):
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith("/outside-consent-scope")


def test_api3_finding_1_a_second_national_society_is_a_conflict_not_a_server_error(
    api: httpx.Client, admin: dict[str, str], lebanon: dict[str, Any]
) -> None:
    organisation = created(api.post("/v1/organizations", headers=admin, json={
        "name": f"Would-be society {uuid.uuid4().hex[:6]}", "type": "cso", "country": "LB",
    }))

    registered = api.post("/v1/organizations", headers=admin, json={
        "name": "Second Lebanese Red Cross", "type": "national_society", "country": "LB",
    })
    relabelled = api.patch(
        f"/v1/organizations/{organisation['id']}", headers=admin,
        json={"type": "national_society"},
    )

    assert registered.status_code == relabelled.status_code == 409
    assert relabelled.headers["content-type"] == "application/problem+json"
    assert api.get(f"/v1/organizations/{lebanon['id']}", headers=admin).json() == lebanon


# API4:2023 Unrestricted Resource Consumption


def test_api4_pages_bodies_and_headers_are_capped(
    api: httpx.Client, nepal_caseworker: dict[str, str]
) -> None:
    huge_page = api.get("/v1/cases", params={"limit": 101}, headers=nepal_caseworker)
    huge_body = api.post(
        "/v1/cases", headers={**nepal_caseworker, "Content-Type": "application/json"},
        content=b'{"person": "' + b"x" * (1024 * 1024) + b'"}',
    )
    huge_headers = api.get(
        "/v1/cases", headers={**nepal_caseworker, "X-Padding": "x" * 20000}
    )

    assert huge_page.status_code == 422
    assert huge_body.status_code == 413
    assert huge_headers.status_code == 431


# A blocked event loop made one /healthz wait for the whole import (13 s); answering all along,
# the slowest answer is a small share of the time polled, however fast the machine, and nineteen
# answers in twenty come within the 100 ms promised (the rest is left to a loaded machine).
SLOWEST_SHARE_OF_POLLING = 0.25
PROMISED_SECONDS = 0.1


class HealthPoller:
    """Asks /healthz in a thread of its own, one request after the other, timing each answer."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.latencies: list[float] = []
        self.statuses: set[int] = set()
        self.polled_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll)

    def __enter__(self) -> "HealthPoller":
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.polled_seconds = time.perf_counter() - self._started

    def _poll(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=60) as client:
            while not self._stop.wait(0.02):
                started = time.perf_counter()
                self.statuses.add(client.get("/healthz").status_code)
                self.latencies.append(time.perf_counter() - started)


def newline_bomb() -> bytes:
    """A zip of about 60 KiB whose organization.csv unpacks to 60 MiB of empty lines."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("service.csv", "id,organization_id,name\n")
        with archive.open("organization.csv", "w", force_zip64=True) as member:
            member.write(b"id,name\n")
            for _ in range(60):
                member.write(b"\n" * 2**20)
    return buffer.getvalue()


def directory(organizations: int, services: int) -> list[dict[str, Any]]:
    """New organisations of Jordan, each with `services` services of one place each."""
    return [{"id": str(uuid.uuid4()), "name": f"Provider {uuid.uuid4().hex[:8]}", "country": "JO",
             "services": [{
                 "id": str(uuid.uuid4()), "name": f"Clinic {number}", "status": "active",
                 "description": "Primary care and referrals for migrants. " * 4,
                 "categories": ["health"], "service_at_locations": [{
                     "id": str(uuid.uuid4()), "location": {
                         "id": str(uuid.uuid4()), "latitude": 32.07, "longitude": 36.09,
                         "addresses": [{"city": "Zarqa", "country": "JO"}],
                     }}],
             } for number in range(services)]}
            for _ in range(organizations)]


@pytest.fixture(scope="module")
def quiet_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """A network of its own: nothing but the test's imports runs in its process."""
    network = start("run", tmp_path_factory.mktemp("imports"), {"WAYMARK_RATE_LIMIT": "off"})
    yield network
    stop(network)


def test_api4_finding_8_healthz_answers_at_once_during_a_zip_bomb_and_a_large_import(
    quiet_network: Network
) -> None:
    with httpx.Client(base_url=quiet_network.base_url, timeout=300) as api:
        token = api.post("/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": "network-admin",
            "client_secret": ADMIN_SECRET,
        }).json()["access_token"]
        admin = {"Authorization": f"Bearer {token}"}
        dataset = directory(organizations=40, services=100)
        with HealthPoller(quiet_network.base_url) as during_bomb:
            bomb = api.post("/v1/hsds/dataset", content=newline_bomb(),
                            headers={**admin, "Content-Type": "application/zip"})
        with HealthPoller(quiet_network.base_url) as during_import:
            imported = api.post("/v1/hsds/dataset", json=dataset, headers=admin)

    assert bomb.status_code == 413, bomb.text
    assert imported.status_code == 200, imported.text
    assert imported.json()["services"]["created"] == 4000
    for poller in (during_bomb, during_import):
        slowest = max(poller.latencies)
        nineteen_in_twenty = statistics.quantiles(poller.latencies, n=20)[-1]
        print(f"/healthz: {len(poller.latencies)} answers, slowest {slowest * 1000:.0f} ms, "
              f"95th percentile {nineteen_in_twenty * 1000:.0f} ms, "
              f"median {statistics.median(poller.latencies) * 1000:.0f} ms")
        assert poller.statuses == {200}
        assert len(poller.latencies) >= 10  # it was asked all along the import
        assert nineteen_in_twenty < PROMISED_SECONDS
        assert slowest < SLOWEST_SHARE_OF_POLLING * poller.polled_seconds


def token_request(
    base_url: str, client_id: str, secret: str, source: str = "127.0.0.1"
) -> httpx.Response:
    """A token request from the loopback address `source` (Linux routes all of 127/8 to lo)."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=base_url, transport=transport, timeout=30) as client:
        return client.post("/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
        })


def test_api4_finding_2_a_guesser_elsewhere_does_not_lock_the_client_out(
    limited: LimitedNetwork
) -> None:
    client = created(limited.api.post(
        f"/v1/organizations/{limited.nepal['id']}/clients", headers=limited.admin,
        json={"name": "Known id", "roles": ["viewer"]},
    ))
    client_id, secret = client["client_id"], client["client_secret"]

    guesses = [
        token_request(limited.base_url, client_id, f"guess-{n}", "127.0.0.2").status_code
        for n in range(4)
    ]
    guessers_right_secret = token_request(limited.base_url, client_id, secret, "127.0.0.2")
    owners = token_request(limited.base_url, client_id, secret, "127.0.0.1")

    assert guesses == [401, 401, 401, 429]
    assert guessers_right_secret.status_code == 429
    assert owners.status_code == 200
    assert owners.json()["token_type"] == "Bearer"


def test_api4_finding_9_tokens_are_limited_even_with_the_right_secret(
    limited: LimitedNetwork
) -> None:
    client = created(limited.api.post(
        f"/v1/organizations/{limited.nepal['id']}/clients", headers=limited.admin,
        json={"name": "Token hungry", "roles": ["viewer"]},
    ))

    answers = [
        token_request(limited.base_url, client["client_id"], client["client_secret"])
        for _ in range(4)
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert answers[3].json()["type"] == "https://waymark.network/problems/rate-limited"
    assert int(answers[3].headers["retry-after"]) >= 1


def test_api4_finding_9_an_organisation_holds_a_bounded_number_of_clients(
    limited: LimitedNetwork
) -> None:
    clients_path = f"/v1/organizations/{limited.lebanon['id']}/clients"
    held = [
        item for item in limited.api.get(clients_path, headers=limited.admin).json()["items"]
        if item["revoked_at"] is None
    ]

    answers = [
        limited.api.post(clients_path, headers=limited.admin, json={
            "name": f"system {number}", "roles": ["viewer"],
        })
        for number in range(8 - len(held) + 1)
    ]

    assert [answer.status_code for answer in answers] == [201] * (8 - len(held)) + [409]
    assert answers[-1].json()["type"] == "https://waymark.network/problems/too-many-clients"
    revoked = limited.api.delete(
        f"{clients_path}/{answers[0].json()['client_id']}", headers=limited.admin
    )
    assert revoked.status_code == 204
    assert limited.api.post(clients_path, headers=limited.admin, json={
        "name": "in place of a revoked one", "roles": ["viewer"],
    }).status_code == 201


# API5:2023 Broken Function Level Authorization


def test_api5_a_caseworker_cannot_use_admin_functions(
    api: httpx.Client, nepal_caseworker: dict[str, str], nepal: dict[str, Any]
) -> None:
    organisation = api.post("/v1/organizations", headers=nepal_caseworker, json={
        "name": "Self-made", "type": "cso", "country": "NP",
    })
    client = api.post(
        f"/v1/organizations/{nepal['id']}/clients", headers=nepal_caseworker,
        json={"name": "escalation", "roles": ["org_admin"]},
    )
    verified = api.patch(
        f"/v1/organizations/{nepal['id']}", headers=nepal_caseworker, json={"verified": True}
    )

    assert organisation.status_code == 403
    assert client.status_code == 403
    assert verified.status_code == 403


def test_api5_no_client_can_be_granted_network_admin(
    api: httpx.Client, admin: dict[str, str], nepal: dict[str, Any]
) -> None:
    response = api.post(
        f"/v1/organizations/{nepal['id']}/clients", headers=admin,
        json={"name": "escalation", "roles": ["network_admin"]},
    )

    assert response.status_code == 422


# API6:2023 Unrestricted Access to Sensitive Business Flows


def test_api6_a_caseworker_cannot_mass_create_cases_beyond_its_rate_limit(
    limited: LimitedNetwork
) -> None:
    creator, colleague = limited.client("caseworker"), limited.client("caseworker")
    before = case_ids(limited.api, colleague)

    answers = [
        limited.api.post("/v1/cases", headers=creator, json={
            "person": PERSON, "vulnerabilities": ["domestic_worker"],
        })
        for _ in range(6)
    ]
    after = case_ids(limited.api, colleague)

    assert [answer.status_code for answer in answers] == [201] * 5 + [429]
    refused = answers[-1]
    assert refused.json()["type"] == "https://waymark.network/problems/rate-limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert after - before == {answer.json()["id"] for answer in answers[:5]}  # no sixth case


def case_ids(api: httpx.Client, headers: dict[str, str]) -> set[str]:
    listed = api.get("/v1/cases", headers=headers, params={"limit": 100})
    assert listed.status_code == 200, listed.text
    return {item["id"] for item in listed.json()["items"]}


def test_api6_guessing_a_clients_secret_is_stopped_and_the_guesser_waits_even_with_the_right_one(
    limited: LimitedNetwork
) -> None:
    client = created(limited.api.post(
        f"/v1/organizations/{limited.nepal['id']}/clients", headers=limited.admin,
        json={"name": "Guessed", "roles": ["viewer"]},
    ))

    def token(secret: str) -> httpx.Response:
        return limited.api.post("/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": client["client_id"],
            "client_secret": secret,
        })

    guesses = [token(f"guess-{number}").status_code for number in range(4)]
    right = token(client["client_secret"])

    assert guesses == [401, 401, 401, 429]
    assert right.status_code == 429
    assert "access_token" not in right.json()
    assert int(right.headers["retry-after"]) >= 1


def test_api6_bulk_import_and_export_of_the_directory_are_for_the_network_admin_only(
    api: httpx.Client, admin: dict[str, str], lebanon_admin: dict[str, str], lebanon: dict[str, Any]
) -> None:
    [entry] = [
        organization for organization in api.get("/v1/hsds/dataset", headers=admin).json()
        if organization["id"] == lebanon["id"]
    ]

    imported = api.post(
        "/v1/hsds/dataset", headers=lebanon_admin, json=[{**entry, "name": "Taken over"}]
    )
    exported = api.get("/v1/hsds/dataset", headers=lebanon_admin)

    assert imported.status_code == exported.status_code == 403
    after = api.get(f"/v1/organizations/{lebanon['id']}", headers=admin).json()
    assert after["name"] == lebanon["name"]


# API7:2023 Server Side Request Forgery


def test_api7_webhooks_to_loopback_private_or_plain_http_targets_are_refused(
    api: httpx.Client, lebanon_admin: dict[str, str]
) -> None:
    targets = [
        "https://127.0.0.1/hook", "https://10.0.0.7/hook", "https://169.254.169.254/latest",
        "https://localhost/hook", "http://partner.example/hook", "https://[::1]/hook",
    ]

    statuses = [
        api.post("/v1/subscriptions", headers=lebanon_admin, json={
            "url": url, "event_types": ["referral.*"],
        }).status_code
        for url in targets
    ]

    assert statuses == [422] * len(targets)


def test_api7_finding_5_ipv6_forms_into_private_space_and_system_ports_are_refused(
    api: httpx.Client, lebanon_admin: dict[str, str]
) -> None:
    targets = [
        "https://[64:ff9b:1::a00:1]/", "https://[::127.0.0.1]/", "https://[::ffff:0:7f00:1]/",
        "https://[fec0::1]/", "https://[3fff::1]/", "https://[5f00::1]/",
        "https://1.1.1.1:0/", "https://1.1.1.1:22/",
    ]

    answers = [
        api.post("/v1/subscriptions", headers=lebanon_admin, json={
            "url": url, "event_types": ["referral.*"],
        })
        for url in targets
    ]

    assert [answer.status_code for answer in answers] == [422] * len(targets)
    assert {answer.json()["type"] for answer in answers} == {
        "https://waymark.network/problems/unsafe-webhook-url"
    }


# API8:2023 Security Misconfiguration


def test_api8_errors_are_problems_without_internals_and_405_names_allowed_methods(
    api: httpx.Client, nepal_caseworker: dict[str, str]
) -> None:
    broken = api.post(
        "/v1/cases", headers={**nepal_caseworker, "Content-Type": "application/json"},
        content=b'{"person": ',
    )
    wrong_method = api.put("/v1/cases", headers=nepal_caseworker, json={})

    assert broken.status_code in (400, 422)
    assert broken.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in broken.text
    assert "File \"" not in broken.text
    assert wrong_method.status_code == 405
    assert set(wrong_method.headers["allow"].split(", ")) == {"GET", "POST"}
    assert "server" not in {name.lower() for name in broken.headers} or (
        "python" not in broken.headers["server"].lower()
    )


def test_api8_finding_9_personal_data_is_never_kept_by_caches_and_nothing_is_sniffed(
    api: httpx.Client, nepal_caseworker: dict[str, str]
) -> None:
    case = a_case(api, nepal_caseworker)
    answers = {
        "case": api.get(f"/v1/cases/{case['id']}", headers=nepal_caseworker),
        "cases": api.get("/v1/cases", headers=nepal_caseworker),
        "journey": api.get(f"/v1/cases/{case['id']}/journey", headers=nepal_caseworker),
        "referrals": api.get("/v1/referrals", headers=nepal_caseworker),
        "inbox": api.get("/v1/inbox", headers=nepal_caseworker),
        "events": api.get("/v1/events", headers=nepal_caseworker),
        "missing": api.get(f"/v1/cases/{uuid.uuid4()}", headers=nepal_caseworker),
        "anonymous": api.get("/v1/cases"),
    }
    keys = api.get("/.well-known/jwks.json")

    for what, answer in answers.items():
        assert answer.status_code < 500, what
        assert answer.headers["cache-control"] == "no-store", what
        assert answer.headers["x-content-type-options"] == "nosniff", what
    assert keys.headers["cache-control"] == "public, max-age=300"  # public keys may be kept
    assert keys.headers["x-content-type-options"] == "nosniff"


def test_api8_finding_9_metrics_are_not_served_through_the_gateway_to_anyone(
    api: httpx.Client, admin: dict[str, str], nepal_caseworker: dict[str, str]
) -> None:
    anonymous = api.get("/metrics")
    caseworker = api.get("/metrics", headers=nepal_caseworker)
    network_admin = api.get("/metrics", headers=admin)

    assert anonymous.status_code == 401
    assert caseworker.status_code == 403
    assert "waymark_" not in anonymous.text + caseworker.text
    assert network_admin.status_code == 200
    assert "waymark_gateway_requests_total" in network_admin.text


def test_api8_finding_9_the_data_folder_and_its_files_are_the_owners_only(network: Network) -> None:
    folder = network.data_dir
    files = {path.name: stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()}

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {"gateway.db", "referrals.db", "gateway-signing-key.pem", "encryption.key",
            "demo-credentials.json"} <= set(files)
    assert {name: mode for name, mode in files.items() if mode != 0o600} == {}


def test_api8_finding_9_nul_and_bidi_controls_in_names_are_refused_and_change_nothing(
    api: httpx.Client, admin: dict[str, str], lebanon: dict[str, Any],
    lebanon_admin: dict[str, str], nepal_caseworker: dict[str, str],
) -> None:
    spoofed = "Red Crescent \u202egnp.exe"
    refused = {
        "organisation name": api.post("/v1/organizations", headers=admin, json={
            "name": spoofed, "type": "cso", "country": "LB",
        }),
        "service name": api.post("/v1/services", headers=lebanon_admin, json={
            **SERVICE, "organization_id": lebanon["id"], "name": "Shelter \u2066intake\u2069",
        }),
        "translated service name": api.post("/v1/services", headers=lebanon_admin, json={
            **SERVICE, "organization_id": lebanon["id"],
            "translations": [{"field": "name", "language": "ar", "text": "ملجأ \u202e"}],
        }),
        "client name": api.post(f"/v1/organizations/{lebanon['id']}/clients", headers=admin, json={
            "name": "desk \u202b1", "roles": ["viewer"],
        }),
        "subscription description": api.post("/v1/subscriptions", headers=lebanon_admin, json={
            "url": "https://partner.example/hooks", "event_types": ["referral.*"],
            "description": "ours \u202d",
        }),
        "NUL in a case": api.post("/v1/cases", headers=nepal_caseworker, json={
            "person": {**PERSON, "safe_contact": "Sundays\u0000"},
            "vulnerabilities": ["domestic_worker"],
        }),
    }
    search = api.get("/v1/services", params={"q": "shelter\x00"}, headers=nepal_caseworker)

    for what, answer in refused.items():
        assert answer.status_code == 422, what
        assert answer.headers["content-type"] == "application/problem+json", what
        messages = " ".join(error["message"] for error in answer.json()["errors"])
        assert "bidirectional" in messages or "NUL" in messages, what
    assert refused["organisation name"].json()["errors"][0]["location"] == ["body", "name"]
    assert search.status_code == 400
    listed = api.get("/v1/organizations", params={"country": "LB", "limit": 100}, headers=admin)
    assert spoofed not in {item["name"] for item in listed.json()["items"]}


# API9:2023 Improper Inventory Management


def test_api9_only_the_documented_version_is_served(
    api: httpx.Client, nepal_caseworker: dict[str, str]
) -> None:
    document = api.get("/openapi.json").json()

    assert all(path.startswith(("/v1/", "/.well-known/")) for path in document["paths"])
    assert api.get("/v2/cases", headers=nepal_caseworker).status_code == 404
    assert api.get("/v1/internal", headers=nepal_caseworker).status_code == 404
