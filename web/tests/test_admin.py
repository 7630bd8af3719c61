"""The network admin's pages over HTTP against the real network: verification, import and
export of the directory, and the statistics with their small cells suppressed."""

import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.support import Network
from web.tests.support import (
    Caseworker,
    client_headers,
    demo_clients,
    form_token,
    matched,
    network_admin_headers,
    signed_in_client,
)

NEPAL = "Nepal Red Cross Society"
JORDAN = "Jordan National Red Crescent Society"
LEBANON = "Lebanese Red Cross"
HOSTILE_NAME = '<script>alert("x")</script><img src=x onerror=alert(1)> Helpers'


def new_organization(base_url: str, name: str, country: str = "NP") -> dict[str, Any]:
    created = httpx.post(f"{base_url}/v1/organizations", headers=network_admin_headers(base_url),
                         json={"name": name, "type": "cso", "country": country})
    assert created.status_code == 201, created.text
    organization: dict[str, Any] = created.json()
    return organization


def organization(base_url: str, organization_id: str) -> httpx.Response:
    return httpx.get(f"{base_url}/v1/organizations/{organization_id}",
                     headers=network_admin_headers(base_url))


def test_a_network_admin_verifies_an_organisation_and_sees_it_verified(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    hostile = new_organization(network.base_url, f"{HOSTILE_NAME} {uuid.uuid4().hex[:6]}")
    with closing(signed_in_client(
        network.base_url, caseworker(NEPAL, "Nadia Network", ("network_admin",)),
    )) as admin:
        start = admin.get("/")
        assert 'href="/admin"' in start.text
        assert admin.get("/admin").headers["location"] == "/admin/organizations"
        waiting = admin.get("/admin/organizations", params={"q": "Helpers"})
        assert waiting.status_code == 200
        assert "&lt;script&gt;alert(" in waiting.text
        assert "<script>alert" not in waiting.text
        assert "<img src=x" not in waiting.text
        assert "Nepal Red Cross Society" not in admin.get("/admin/organizations").text  # verified

        verified = admin.post(f"/admin/organizations/{hostile['id']}", data={
            "csrf_token": form_token(waiting.text), "action": "verify", "q": "Helpers",
            "country": "", "type": "", "verified": "false",
        })
        assert verified.status_code == 303
        told = admin.get(verified.headers["location"])
        assert "is verified now" in told.text
        assert "&lt;script&gt;" in told.text
        assert "<script>alert" not in told.text
        assert organization(network.base_url, hostile["id"]).json()["verified"] is True
        listed = admin.get("/admin/organizations", params={"verified": "true", "q": "Helpers"})
        assert hostile["id"] in listed.text
        assert 'value="withdraw"' in listed.text

        forged = admin.post(f"/admin/organizations/{hostile['id']}", data={"action": "withdraw"})
        assert forged.status_code == 403
        assert organization(network.base_url, hostile["id"]).json()["verified"] is True
        withdrawn = admin.post(f"/admin/organizations/{hostile['id']}", data={
            "csrf_token": form_token(listed.text), "action": "withdraw", "verified": "true",
        })
        assert "is withdrawn" in admin.get(withdrawn.headers["location"]).text
        assert organization(network.base_url, hostile["id"]).json()["verified"] is False

        arabic = admin.get("/admin/organizations?lang=ar")
        assert 'dir="rtl"' in arabic.text
        assert "&lt;script&gt;" in arabic.text


def test_caseworkers_and_organisation_admins_find_no_administration(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    target = new_organization(network.base_url, f"Quiet Helpers {uuid.uuid4().hex[:6]}")
    for roles in (("caseworker",), ("org_admin", "caseworker")):
        with closing(signed_in_client(network.base_url, caseworker(NEPAL, "Omar", roles))) as person:
            start = person.get("/")
            assert 'href="/admin"' not in start.text
            for page in ("/admin", "/admin/organizations", "/admin/directory",
                         "/admin/directory/export.zip", "/admin/statistics"):
                assert person.get(page).status_code == 404, page
            refused = person.post(f"/admin/organizations/{target['id']}", data={
                "csrf_token": form_token(start.text), "action": "verify",
            })
            assert refused.status_code == 404
    assert organization(network.base_url, target["id"]).json()["verified"] is False


def test_a_dry_run_shows_the_report_and_changes_nothing_then_the_import_does(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    with closing(signed_in_client(
        network.base_url, caseworker(NEPAL, "Ivan Import", ("network_admin",)),
    )) as admin:
        page = admin.get("/admin/directory")
        token = form_token(page.text)
        exported = admin.get("/admin/directory/export.json")
        assert exported.status_code == 200
        assert exported.headers["content-disposition"].startswith("attachment;")
        dataset = exported.json()
        assert any(item["name"] == NEPAL for item in dataset)

        package = admin.get("/admin/directory/export.zip")
        assert package.headers["content-type"] == "application/zip"
        assert package.headers["content-disposition"].startswith("attachment;")
        with zipfile.ZipFile(io.BytesIO(package.content)) as unpacked:
            assert {"datapackage.json", "organizations.csv", "services.csv"} <= set(unpacked.namelist())
        again = admin.post("/admin/directory/import", data={"csrf_token": token, "mode": "dry-run"},
                           files={"file": ("directory.zip", package.content, "application/zip")})
        assert again.status_code == 200
        assert "nothing was changed" in again.text
        assert re.search(r"<th scope=\"row\">Organisations</th><td>0</td><td>0</td><td>\d+</td>",
                         again.text)

        cso = next(item for item in dataset if item["name"].startswith("Nepal Migrant Workers"))
        newcomer = {**cso, "id": str(uuid.uuid4()), "name": f"Imported Helpers {uuid.uuid4().hex[:6]}",
                    "services": []}
        body = json.dumps([newcomer]).encode()
        dry = admin.post("/admin/directory/import", data={"csrf_token": token, "mode": "dry-run"},
                         files={"file": ("new.json", body, "application/json")})
        assert dry.status_code == 200, dry.text
        assert "Dry run of new.json: nothing was changed" in dry.text
        assert re.search(r"<th scope=\"row\">Organisations</th><td>1</td><td>0</td><td>0</td>",
                         dry.text)
        assert organization(network.base_url, newcomer["id"]).status_code == 404
        padded = body + b" " * (3 * 2**19)  # 1.5 MiB: past the 1 MiB of every other form
        large = admin.post("/admin/directory/import", data={"csrf_token": token, "mode": "dry-run"},
                           files={"file": ("large.json", padded, "application/json")})
        assert large.status_code == 200
        assert "Dry run of large.json" in large.text

        applied = admin.post("/admin/directory/import", data={"csrf_token": token, "mode": "apply"},
                             files={"file": ("new.json", body, "application/json")})
        assert applied.status_code == 200
        assert "new.json is imported" in applied.text
        assert organization(network.base_url, newcomer["id"]).json()["name"] == newcomer["name"]

        broken = json.dumps([{**newcomer, "id": str(uuid.uuid4()), "name": ""}]).encode()
        refused = admin.post("/admin/directory/import", data={"csrf_token": token, "mode": "apply"},
                             files={"file": ("broken.json", broken, "application/json")})
        assert refused.status_code == 422
        assert "Nothing was imported from broken.json" in refused.text
        assert re.search(r"<td>1</td><td dir=\"ltr\"><code>\[0\]", refused.text)
        garbage = admin.post("/admin/directory/import", data={"csrf_token": token, "mode": "apply"},
                             files={"file": ("notes.json", b"\xff\xfe not a dataset", "text/plain")})
        assert garbage.status_code == 422
        assert 'role="alert"' in garbage.text
        nothing = admin.post("/admin/directory/import", data={"csrf_token": token, "mode": "apply"})
        assert nothing.status_code == 422
        assert "Choose a file to import." in nothing.text
        forged = admin.post("/admin/directory/import", data={"mode": "apply"},
                            files={"file": ("new.json", body, "application/json")})
        assert forged.status_code == 403


def refer(base_url: str, sender: dict[str, str], service: dict[str, Any], receiver_id: str) -> None:
    with httpx.Client(base_url=base_url, headers=sender, timeout=30) as api:
        case = api.post("/v1/cases", json={"person": {"given_name": "Maya"}})
        assert case.status_code == 201, case.text
        consent = api.put(f"/v1/cases/{case.json()['id']}/consent", json={
            "legal_basis": "consent", "given_at": "2026-11-20T10:00:00Z", "method": "verbal",
        })
        assert consent.status_code == 200, consent.text
        referral = api.post("/v1/referrals", headers={"Idempotency-Key": uuid.uuid4().hex}, json={
            "case_id": case.json()["id"], "receiver_org_id": receiver_id,
            "service_id": service["id"], "migration_stage": "destination",
            "categories": service["categories"], "urgency": "normal", "reason": "Shelter.",
            "shared_fields": ["given_name"],
        })
        assert referral.status_code == 201, referral.text


def test_statistics_are_svg_charts_with_small_cells_suppressed_as_the_api_does(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    clients = demo_clients(Path(network.data_dir))
    sender = client_headers(network.base_url, clients[NEPAL])
    for receiver, times in ((JORDAN, 5), (LEBANON, 2)):
        receiver_id = clients[receiver]["organization_id"]
        service = httpx.get(f"{network.base_url}/v1/services", headers=sender, params={
            "organization_id": receiver_id, "accepts_referrals": "true"}).json()["items"][0]
        for _ in range(times):
            refer(network.base_url, sender, service, receiver_id)

    with closing(signed_in_client(
        network.base_url, caseworker(NEPAL, "Sara Stats", ("network_admin",)),
    )) as admin:
        page = admin.get("/admin/statistics")
        assert page.status_code == 200
        assert page.text.count('<svg viewBox=') == 3
        assert 'role="img"' in page.text
        assert '<title id="chart-count-title">' in page.text
        assert '<desc id="chart-count-desc">' in page.text
        jordan = matched(r'<th scope="row">Nepal to Jordan</th>\s*<td>(.*?)</td>', page.text)
        lebanon = matched(r'<th scope="row">Nepal to Lebanon</th>\s*<td>(.*?)</td>', page.text)
        assert jordan == "5"
        assert "&lt;5" in lebanon
        assert 'class="bar suppressed"' in page.text
        assert ">2<" not in page.text  # the API's "<5", never the count behind it
        assert "not published: it would reveal a count under 5" in page.text
        assert 'href="/admin/statistics"' in page.text
        by_month = admin.get("/admin/statistics", params={"group_by": "urgency"})
        assert by_month.status_code == 200
        assert "Normal (answer within 3 days)" in by_month.text
        arabic = admin.get("/admin/statistics?lang=ar")
        assert arabic.status_code == 200
        assert 'dir="rtl"' in arabic.text
        assert "&lt;5" in arabic.text
