"""The organisation admin's settings and the invitation a new colleague accepts, over HTTP
against the real network."""

import re
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.e2e.support import Network
from web.tests.support import (
    Caseworker, create_service, form_token, post_sign_in, signed_in_client, totp_code,
)

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
        signed = post_sign_in(newcomer, {
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


JORDAN = "Jordan National Red Crescent Society"
FIELD_ERROR = re.compile(r'<p class="field-error" id="([\w-]+)-error">')


def service_fields(token: str, **changes: str | list[str]) -> dict[str, str | list[str]]:
    """The service form as an admin fills it in: a public office and a confidential shelter."""
    return {
        "csrf_token": token, "name": "Lakeside legal clinic", "original_language": "en",
        "description": "Advice on contracts and wages for domestic workers back from the Gulf.",
        "status": "active", "categories": ["legal.information", "livelihoods.labour_rights"],
        "languages": ["ne", "en"], "other_languages": "hi", "interpretation_available": "true",
        "populations": ["migrant_domestic_workers", "returnees"], "migration_stages": ["return"],
        "eligibility_description": "Anyone who worked abroad.", "accepts_referrals": "true",
        "free_of_charge": "true", "capacity": "available", "response_time_hours": "48",
        "location-0-name": "Lakeside office", "location-0-address": "Ward 6, Lakeside Road",
        "location-0-city": "Pokhara", "location-0-admin_area": "Gandaki",
        "location-0-country": "NP", "location-0-latitude": "28.2096",
        "location-0-longitude": "83.9856",
        "location-1-name": "Hidden house", "location-1-address": "Secret lane 9",
        "location-1-city": "Pokhara", "location-1-admin_area": "Gandaki",
        "location-1-country": "NP", "location-1-latitude": "28.21",
        "location-1-longitude": "83.99", "location-1-confidential": "true",
        "location-2-country": "NP",  # the empty row the form always offers
        "phone-0-number": "+977 61 520000", "phone-0-type": "voice", "phone-0-languages": "ne",
        "email": "clinic@example.org", "url": "https://example.org/clinic",
        "schedule-0-byday": ["MO", "TU", "WE", "TH", "FR"], "schedule-0-opens_at": "09:00",
        "schedule-0-closes_at": "17:00", "schedule-0-description": "Closed on public holidays",
        **changes,
    }


def publish(admin: httpx.Client, **changes: str | list[str]) -> str:
    token = form_token(admin.get("/settings/services/new").text)
    published = admin.post("/settings/services/new", data=service_fields(token, **changes))
    assert published.status_code == 303, published.text
    return published.headers["location"].removeprefix("/services/")


def test_an_admin_publishes_a_service_that_caseworkers_find_and_then_changes_it(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    with closing(signed_in_client(network.base_url, caseworker(NEPAL, "Anita Admin", ("org_admin",)))) as admin, \
            closing(signed_in_client(network.base_url, caseworker(JORDAN, "Rana Haddad"))) as other:
        new = admin.get("/settings/services/new")
        assert new.status_code == 200
        assert '<label for="location-0-latitude">Latitude</label>' in new.text
        assert 'value="legal.information"' in new.text and "Legal information" in new.text
        service_id = publish(admin)

        for words in ({"q": "lakeside"}, {"category": "legal", "country": "NP"}):
            found = other.get("/services", params=words).text
            assert f'href="/services/{service_id}"' in found, words
        shown = other.get(f"/services/{service_id}").text
        for fact in ("Lakeside legal clinic", "Ward 6, Lakeside Road", "+977 61 520000",
                     "Monday, Tuesday, Wednesday, Thursday, Friday", "09:00–17:00", "Hindi"):
            assert fact in shown, fact
        # Outside the organisation the shelter is its city and area only.
        assert "Hidden house" not in shown and "Secret lane" not in shown
        assert "Pokhara, Gandaki, Nepal" in shown
        assert "Change the service" not in shown

        form = admin.get(f"/settings/services/{service_id}").text
        assert 'value="Secret lane 9"' in form and 'value="hi"' in form
        assert re.search(r'name="location-1-confidential" type="checkbox" value="true" checked', form)
        changed = admin.post(f"/settings/services/{service_id}", data=service_fields(
            form_token(form), action="save", name="Lakeside labour clinic", capacity="full",
            **{"location-1-name": "", "location-1-address": "", "location-1-city": "",
               "location-1-admin_area": "", "location-1-latitude": "",
               "location-1-longitude": ""}))
        assert changed.status_code == 303
        shown = admin.get(f"/services/{service_id}").text
        assert "Lakeside labour clinic" in shown and "<dt>Capacity</dt><dd>Full</dd>" in shown
        assert "Hidden house" not in shown and "Change the service" in shown


def test_a_refused_field_is_said_beside_it_the_input_is_kept_and_nothing_changes(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    with closing(signed_in_client(network.base_url, caseworker(NEPAL, "Anita Admin", ("org_admin",)))) as admin:
        service_id = publish(admin, name="Valley advice desk")
        form = admin.get(f"/settings/services/{service_id}").text
        refused = admin.post(f"/settings/services/{service_id}", data=service_fields(
            form_token(form), action="save", name="  ", description="A new description",
            **{"location-0-latitude": "100"}))
        assert refused.status_code == 422
        assert set(FIELD_ERROR.findall(refused.text)) == {"name", "location-0-latitude"}
        assert re.search(r'<p class="field-error" id="location-0-latitude-error">Not accepted: '
                         r'<bdi lang="en">[^<]*90[^<]*</bdi></p>\s*<input id="location-0-latitude" '
                         r'name="location-0-latitude" type="text" value="100" '
                         r'aria-describedby="location-0-latitude-help location-0-latitude-error" '
                         r'aria-invalid="true"', refused.text)
        assert '<a href="#name">' in refused.text and "A new description</textarea>" in refused.text
        assert "Nothing was saved" in refused.text
        shown = admin.get(f"/services/{service_id}").text
        assert "Valley advice desk" in shown and "A new description" not in shown

        created = admin.post("/settings/services/new", data=service_fields(
            form_token(form), name="Unlisted desk", categories=[]))
        assert created.status_code == 422 and FIELD_ERROR.findall(created.text) == ["categories"]
        assert 'value="Unlisted desk"' in created.text
        assert "Unlisted desk" not in admin.get("/services", params={"q": "unlisted"}).text

        french = admin.get(f"/settings/services/{service_id}?lang=fr").text
        assert "Non accepté" not in french and "Latitude" in french
        refused_fr = admin.post(f"/settings/services/{service_id}", data=service_fields(
            form_token(french), action="save", **{"location-0-longitude": "200"}))
        assert "Non accepté :" in refused_fr.text
        admin.get("/settings/services?lang=en")


def test_a_translation_is_shown_in_its_language_and_the_original_marked_elsewhere(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    with closing(signed_in_client(network.base_url, caseworker(NEPAL, "Anita Admin", ("org_admin",)))) as admin, \
            closing(signed_in_client(network.base_url, caseworker(NEPAL, "Claire Martin"))) as french, \
            closing(signed_in_client(network.base_url, caseworker(NEPAL, "Sita Sharma"))) as english:
        service_id = publish(admin, name="मजदुर सहायता केन्द्र", original_language="ne",
                             description="विदेशबाट फर्केका कामदारका लागि सल्लाह")
        page = admin.get(f"/settings/services/{service_id}/translations").text
        assert "The original is written in Nepali." in page
        assert '<option value="fr">French</option>' in page
        assert '<option value="ne">' not in page  # not a translation of itself
        saved = admin.post(f"/settings/services/{service_id}/translations", data={
            "csrf_token": form_token(page), "translation-0-language": "fr",
            "translation-0-name": "Centre d'aide aux travailleurs",
            "translation-0-description": "Conseils pour les travailleurs revenus de l'étranger",
        })
        assert saved.status_code == 303
        page = admin.get(saved.headers["location"]).text
        assert "The translations are saved." in page
        assert 'value="Centre d&#39;aide aux travailleurs"' in page

        in_french = french.get(f"/services/{service_id}?lang=fr").text
        assert "<h1 class=\"user-text\">Centre d&#39;aide aux travailleurs</h1>" in in_french
        assert "Conseils pour les travailleurs" in in_french
        in_english = english.get(f"/services/{service_id}?lang=en").text
        assert '<h1 class="user-text" lang="ne">मजदुर सहायता केन्द्र</h1>' in in_english
        assert "Shown in Nepali: no translation into your language yet." in in_english

        # A translated name may not be empty: said beside it; the French one stays.
        refused = admin.post(f"/settings/services/{service_id}/translations", data={
            "csrf_token": form_token(page), "translation-0-language": "fr",
            "translation-0-name": "Centre d'aide aux travailleurs",
            "translation-1-language": "es", "translation-1-name": "x" * 201,
        })
        assert refused.status_code == 422
        assert FIELD_ERROR.findall(refused.text) == ["translation-1-name"]
        assert "x" * 201 in refused.text
        unnamed = admin.post(f"/settings/services/{service_id}/translations", data={
            "csrf_token": form_token(page), "translation-0-language": "fr",
            "translation-0-name": "Centre d'aide aux travailleurs",
            "translation-1-language": "", "translation-1-name": "Centro de ayuda",
        })
        assert unnamed.status_code == 422
        assert FIELD_ERROR.findall(unnamed.text) == ["translation-1-language"]
        assert 'value="Centro de ayuda"' in unnamed.text
        removed = admin.post(f"/settings/services/{service_id}/translations", data={
            "csrf_token": form_token(page), "translation-0-language": "fr",
        })
        assert removed.status_code == 303
        assert "Centre d&#39;aide" not in french.get(f"/services/{service_id}?lang=fr").text


def test_another_organisations_service_is_not_found_in_settings(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    theirs = create_service(network.base_url, Path(network.data_dir), JORDAN, "Their shelter")
    with closing(signed_in_client(network.base_url, caseworker(NEPAL, "Anita Admin", ("org_admin",)))) as admin:
        token = form_token(admin.get("/settings/services").text)
        for address in (f"/settings/services/{theirs['id']}",
                        f"/settings/services/{theirs['id']}/translations"):
            page = admin.get(address)
            assert page.status_code == 404 and "Not found" in page.text
            sent = admin.post(address, data=service_fields(token, action="save", name="Ours now"))
            assert sent.status_code == 404
        confirmed = admin.post(f"/settings/services/{theirs['id']}",
                               data={"csrf_token": token, "action": "update", "capacity": "full"})
        assert confirmed.status_code == 404
        shown = admin.get(f"/services/{theirs['id']}").text
        assert "Their shelter" in shown and "Change the service" not in shown


def test_markup_in_a_service_name_is_shown_as_text(
    network: Network, caseworker: Callable[..., Caseworker],
) -> None:
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    with closing(signed_in_client(network.base_url, caseworker(NEPAL, "Anita Admin", ("org_admin",)))) as admin:
        service_id = publish(admin, name=payload, description=payload)
        for address in (f"/services/{service_id}", "/settings/services",
                        f"/settings/services/{service_id}",
                        f"/settings/services/{service_id}/translations"):
            page = admin.get(address).text
            assert payload not in page, address
            assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img" in page, address
