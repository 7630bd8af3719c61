"""`make run` as a new user meets it: once /readyz answers, the demo network is all there."""

import json
import stat
from pathlib import Path

import httpx
import pytest
from waymark_cli.demo import COUNTRIES
from waymark_gateway.people import totp

from tests.e2e.flow import token
from tests.e2e.support import ADMIN_SECRET, start, stop

pytestmark = pytest.mark.integration  # starts networks of processes


async def test_the_demo_network_is_in_place_when_the_network_is_ready(tmp_path: Path) -> None:
    network = start("run", tmp_path, {"WAYMARK_SEED_DEMO": "true"})
    try:
        async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as client:
            admin = await token(client, "network-admin", ADMIN_SECRET)
            countries = (await client.get("/v1/countries", headers=admin)).json()["items"]
            assert {country["code"] for country in countries} == {c.code for c in COUNTRIES}
            assert all(country["national_society"]["organization_id"] for country in countries)

            credentials_file = network.data_dir / "demo-credentials.json"
            assert stat.S_IMODE(credentials_file.stat().st_mode) == 0o600
            seeded = json.loads(credentials_file.read_text())
            credentials = seeded["clients"]
            assert len(credentials) == 2 * len(COUNTRIES)
            nepal = next(c for c in credentials if c["organization"] == "Nepal Red Cross Society")
            caseworker = await token(client, nepal["client_id"], nepal["client_secret"])
            services = await client.get(
                "/v1/services", headers=caseworker, params={"country": "NP", "limit": 100})
            assert len(services.json()["items"]) == 3
            assert all("(demo)" in service["name"] for service in services.json()["items"])
            cases = await client.get("/v1/cases", headers=caseworker)
            assert cases.status_code == 200 and cases.json()["items"] == []

            people = seeded["people"]
            for country in COUNTRIES:
                roles = {tuple(p["roles"]) for p in people
                         if p["organization"] == country.national_society and p["roles"] != ["network_admin"]}
                assert roles == {("caseworker",), ("org_admin",)}
            network_admins = [p for p in people if p["roles"] == ["network_admin"]]
            assert len(network_admins) == 1 and network_admins[0]["totp_secret"]
            nepal_people = [p for p in people if p["organization"] == "Nepal Red Cross Society"]
            for person in nepal_people:
                async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as browser:
                    code = totp.code_at(person["totp_secret"], totp.current_step()) if person["totp_secret"] else None
                    signed_in = await browser.post("/v1/auth/sessions", json={
                        "email": person["email"], "password": person["password"], "code": code,
                    })
                    assert signed_in.status_code == 201, signed_in.text
                    cases = await browser.get("/v1/cases")
                    assert cases.status_code == 200 and cases.json()["items"] == []
            assert {p["totp_secret"] is None for p in nepal_people} == {True, False}
            async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as browser:
                network_admin = network_admins[0]
                signed_in = await browser.post("/v1/auth/sessions", json={
                    "email": network_admin["email"], "password": network_admin["password"],
                    "code": totp.code_at(network_admin["totp_secret"], totp.current_step()),
                })
                assert signed_in.status_code == 201, signed_in.text
                exported = await browser.get("/v1/hsds/dataset")  # the network admin's alone
                assert exported.status_code == 200 and len(exported.json()) == 2 * len(COUNTRIES)
            assert "WITHOUT a second factor" in seeded["note"]
    finally:
        stop(network)
    log = network.log.read_text()
    assert "ready at" in log
    assert "the demo caseworkers sign in WITHOUT a second factor" in log
    named = [p for p in people if f"{p['email']}  password={p['password']}" in log]
    assert len({p["organization"] for p in named}) == 2 and len(named) == 5
    assert f"demo network admin (the /admin pages): {network_admins[0]['email']}" in log


async def test_with_an_external_issuer_the_network_starts_without_the_demo_network(tmp_path: Path) -> None:
    # The demo network is made with the built-in issuer's clients, which an external issuer
    # replaces; the issuer's discovery document is read only when a token is first checked.
    discovery = "http://127.0.0.1:9/.well-known/openid-configuration"
    network = start("run", tmp_path, {"WAYMARK_SEED_DEMO": "true", "WAYMARK_OIDC_DISCOVERY_URL": discovery})
    try:
        async with httpx.AsyncClient(base_url=network.base_url, timeout=30) as client:
            refused = await client.post("/v1/auth/token", data={
                "grant_type": "client_credentials", "client_id": "network-admin", "client_secret": ADMIN_SECRET,
            })
            assert refused.status_code == 404
            assert network.process.poll() is None
    finally:
        stop(network)
    log = network.log.read_text()
    assert "the demo network is not created" in log
    assert f"tokens:            from the OpenID Connect issuer of {discovery}" in log
    assert ADMIN_SECRET not in log
    assert not (network.data_dir / "demo-credentials.json").exists()
