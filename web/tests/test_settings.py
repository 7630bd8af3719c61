"""The organisation admin's settings and the invitation a new colleague accepts, over HTTP
against the real network."""

import re
from collections.abc import Callable
from contextlib import closing
from urllib.parse import urlsplit

import httpx

from tests.e2e.support import Network
from web.tests.support import Caseworker, form_token, signed_in_client, totp_code

NEPAL = "Nepal Red Cross Society"
SECRET = re.compile(r'<code dir="ltr" class="secret">([^<]+)</code>')




def test_an_admin_invites_a_colleague_who_enrols_and_signs_in(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    admin = signed_in_client(network.base_url, caseworker(NEPAL, "Anita Admin", ("org_admin", "caseworker")))
    page = admin.get("/settings/people")
    assert 'href="/settings"' in admin.get("/").text
    assert page.status_code == 200 and "Anita Admin" in page.text
    invited = admin.post("/settings/people/invitations", data={
        "csrf_token": form_token(page.text), "email": "bina.new@example.org",
        "roles": ["caseworker", "not-a-role"],
    })
    assert invited.status_code == 201
    accept_path = urlsplit(SECRET.search(invited.text)[1]).path
    assert accept_path.startswith("/invitations/")
    assert "bina.new@example.org" in admin.get("/settings/people").text

    with httpx.Client(base_url=network.base_url, timeout=30) as newcomer:
        invitation = newcomer.get(accept_path + "?lang=es")
        assert invitation.status_code == 200 and "bina.new@example.org" in invitation.text
        mismatch = newcomer.post(accept_path, data={
            "name": "Bina Thapa", "password": "Copper-Kettle-Morning-7",
            "password_again": "Copper-Kettle-Morning-8",
        })
        assert mismatch.status_code == 422 and "no coinciden" in mismatch.text
        enrolled = newcomer.post(accept_path, data={
            "name": "Bina Thapa", "password": "Copper-Kettle-Morning-7",
            "password_again": "Copper-Kettle-Morning-7",
        })
        assert enrolled.status_code == 201
        assert enrolled.headers["cache-control"] == "no-store"
        secret = SECRET.search(enrolled.text)[1]
        assert len(re.findall(r"<li><code>", enrolled.text)) == 10  # the recovery codes
        assert 'src="data:image/svg+xml;base64,' in enrolled.text
        again = newcomer.post(accept_path, data={
            "name": "Bina Again", "password": "Copper-Kettle-Morning-7",
            "password_again": "Copper-Kettle-Morning-7",
        })
        assert again.status_code == 410 and "ya se usó" in again.text  # it works once
        signed = newcomer.post("/sign-in", data={
            "email": "bina.new@example.org", "password": "Copper-Kettle-Morning-7",
            "code": totp_code(secret),
        })
        assert signed.status_code == 303
        assert "Bina Thapa" in newcomer.get("/").text
    admin.close()


def test_settings_are_not_there_for_a_caseworker(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    with closing(signed_in_client(network.base_url, caseworker(NEPAL, "Sita Sharma"))) as client:
        assert 'href="/settings"' not in client.get("/").text
        for address in ("/settings/people", "/settings/clients", "/settings/webhooks"):
            response = client.get(address)
            assert response.status_code == 404 and "Not found" in response.text


def test_an_admin_creates_an_api_client_and_a_webhook_whose_secrets_show_once(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    with closing(signed_in_client(network.base_url, caseworker(NEPAL, "Anita Admin", ("org_admin",)))) as admin:
        token = form_token(admin.get("/settings/clients").text)
        created = admin.post("/settings/clients", data={
            "csrf_token": token, "name": "District case system", "roles": ["caseworker"],
        })
        assert created.status_code == 201
        client_id, client_secret = SECRET.findall(created.text)
        issued = httpx.post(f"{network.base_url}/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": client_id,
            "client_secret": client_secret,
        })
        assert issued.status_code == 200
        listed = admin.get("/settings/clients").text
        assert "District case system" in listed and client_secret not in listed
        assert admin.post(f"/settings/clients/{client_id}/revoke",
                          data={"csrf_token": token}).status_code == 303
        assert httpx.post(f"{network.base_url}/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": client_id,
            "client_secret": client_secret,
        }).status_code == 401

        hooked = admin.post("/settings/webhooks", data={
            "csrf_token": token, "url": "http://127.0.0.1:65009/hook",
            "event_types": ["referral.requested", "referral.completed"],
        })
        assert hooked.status_code == 201
        first_secret = SECRET.search(hooked.text)[1]
        assert first_secret.startswith("whsec_")
        subscription = re.search(r'href="/settings/webhooks/([0-9a-f-]{36})"', hooked.text)[1]
        page = admin.get(f"/settings/webhooks/{subscription}")
        assert page.status_code == 200 and first_secret not in page.text
        rotated = admin.post(f"/settings/webhooks/{subscription}",
                             data={"csrf_token": token, "action": "rotate-secret"})
        assert SECRET.search(rotated.text)[1] not in (first_secret, "")
        deleted = admin.post(f"/settings/webhooks/{subscription}",
                             data={"csrf_token": token, "action": "delete"})
        assert deleted.status_code == 303
        assert admin.get(f"/settings/webhooks/{subscription}").status_code == 404


def test_an_admin_keeps_her_services_capacity_and_confirmation_current(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    with closing(signed_in_client(network.base_url, caseworker(NEPAL, "Anita Admin", ("org_admin",)))) as admin:
        page = admin.get("/settings/services").text
        service_id = re.search(r'action="/settings/services/([0-9a-f-]{36})"', page)[1]
        changed = admin.post(f"/settings/services/{service_id}", data={
            "csrf_token": form_token(page), "action": "update", "status": "active",
            "capacity": "full",
        })
        assert changed.status_code == 303
        shown = admin.get(f"/services/{service_id}").text
        assert "<dt>Capacity</dt><dd>Full</dd>" in shown
        confirmed = admin.post(f"/settings/services/{service_id}", data={
            "csrf_token": form_token(page), "action": "confirm",
        })
        assert confirmed.status_code == 303
