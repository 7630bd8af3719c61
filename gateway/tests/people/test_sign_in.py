"""The whole path: invite, accept (password and TOTP), sign in, and call a service as the person."""

from datetime import UTC, datetime, timedelta

import jwt

from gateway.tests.conftest import Network
from waymark_gateway.sessions.service import PLAIN_COOKIE

from .conftest import KNOWN_ORGANIZATION, People


async def test_an_invited_caseworker_signs_in_and_the_services_see_her(
    people: People, network: Network
) -> None:
    invited = await people.invite("Amina.Haddad@Example.org", ["caseworker"])
    assert invited.status_code == 201
    invitation = invited.json()
    assert invitation["email"] == "amina.haddad@example.org"
    assert invitation["accept_url"].startswith("http://127.0.0.1:8000/invitations/")
    token = invitation["accept_url"].rsplit("/", 1)[1]
    valid_for = datetime.fromisoformat(invitation["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=72) - timedelta(minutes=1) < valid_for <= timedelta(hours=72)
    listed = await network.client.get(
        f"/v1/organizations/{KNOWN_ORGANIZATION}/invitations", headers=people.admin())
    assert "amina.haddad@example.org" in listed.text
    assert token not in listed.text  # the link is shown once, when it is made

    shown = await network.client.get(f"/v1/invitations/{token}")
    assert shown.json()["email"] == "amina.haddad@example.org"
    assert shown.json()["organization_id"] == str(KNOWN_ORGANIZATION)

    accepted = await network.client.post(
        f"/v1/invitations/{token}", json={"name": "Amina Haddad", "password": "Amber-Lantern-Quietly-42"}
    )
    assert accepted.status_code == 201
    enrolment = accepted.json()
    assert enrolment["person"]["name"] == "Amina Haddad"
    assert enrolment["person"]["mfa_enrolled"] is True
    assert enrolment["totp"]["otpauth_uri"].startswith("otpauth://totp/Waymark:amina.haddad@example.org?")
    assert enrolment["totp"]["qr_svg"].startswith("<svg")
    assert len(enrolment["recovery_codes"]) == 10

    from .conftest import Enrolled
    person = Enrolled("amina.haddad@example.org", "Amber-Lantern-Quietly-42",
                      enrolment["totp"]["secret"], enrolment["person"], enrolment["recovery_codes"])
    signed_in = await people.sign_in(person)
    assert signed_in.status_code == 201, signed_in.text
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith(f"{PLAIN_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    csrf = signed_in.json()["csrf_token"]

    created = await network.client.post(
        "/v1/cases", json={"subject": "x"}, headers={"X-CSRF-Token": csrf}
    )
    assert created.status_code == 201, created.text
    call = network.referrals.state.calls[-1]
    assert "cookie" not in call.headers
    assert "x-csrf-token" not in call.headers
    claims = jwt.decode(call.headers["authorization"].split()[1], options={"verify_signature": False})
    assert claims["sub"] == enrolment["person"]["id"]
    assert claims["kind"] == "person"
    assert claims["name"] == "Amina Haddad"
    assert claims["org"] == str(KNOWN_ORGANIZATION)
    assert claims["roles"] == ["caseworker"]
    assert "mfa" in claims["amr"]

    session = await network.client.get("/v1/auth/session")
    assert session.json()["person"]["email"] == "amina.haddad@example.org"
    assert session.json()["csrf_token"] == csrf
