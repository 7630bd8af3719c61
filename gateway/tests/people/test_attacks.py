"""Each attack of the issue as a test: a clear 4xx problem, and nothing changes."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlmodel import col

from gateway.tests.conftest import Network
from waymark_gateway.people import totp
from waymark_gateway.people.models import Invitation, Person
from waymark_gateway.sessions.service import PLAIN_COOKIE

from .conftest import OTHER_ORGANIZATION, PASSWORD, People

# Every table of the gateway where something of a person is kept.
PEOPLES_TABLES = (
    "gateway_people", "gateway_recovery_codes", "gateway_invitations", "gateway_audit",
    "gateway_sessions",
)


def unique_email() -> str:
    return f"p-{uuid.uuid4().hex[:10]}@example.org"


async def invitations_stored(network: Network) -> int:
    async with network.app.state.database.transaction() as session:
        stored: int = (
            await session.execute(text("SELECT count(*) FROM gateway_invitations"))
        ).scalar_one()
        return stored


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    people: People, network: Network
) -> None:
    person = await people.enrol()
    wrong = await people.sign_in(person, password="Not-The-Right-One-99")
    unknown_email = unique_email()
    unknown = await network.client.post("/v1/auth/sessions", json={
        "email": unknown_email, "password": PASSWORD, "code": "123456"})
    for refused in (wrong, unknown):
        assert refused.status_code == 401
        assert refused.json()["type"].endswith("/sign-in-refused")
        assert "set-cookie" not in refused.headers
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert PLAIN_COOKIE not in network.client.cookies
    listed = {item["id"]: item for item in await people.people_of()}
    assert listed[person.person["id"]]["last_sign_in_at"] is None  # no sign-in recorded
    assert unknown_email not in [item["email"] for item in listed.values()]

    entries = [e for e in await people.audit() if e["target"] == person.person["id"]]
    assert [(e["action"], e["result"], e["address"]) for e in entries] == [
        ("sign_in", "wrong_password", "203.0.113.7")]
    async with network.app.state.database.transaction() as session:
        rows = (await session.execute(text(
            "SELECT target, result, address FROM gateway_audit WHERE organization_id IS NULL"
        ))).all()
    assert ("unknown_email", "203.0.113.7") in [(row.result, row.address) for row in rows]
    assert all(unknown_email not in (row.target or "") for row in rows)
    assert all(row.target.startswith("email:") for row in rows if row.result == "unknown_email")


async def test_a_wrong_or_replayed_totp_code_is_refused_and_a_recovery_code_works_once(
    people: People, network: Network
) -> None:
    person = await people.enrol()
    current = totp.current_step()
    wrong = f"{(int(person.code()) + 1) % 1_000_000:06d}"
    assert (await people.sign_in(person, code=wrong)).status_code == 401
    assert (await people.sign_in(person, code="")).status_code == 401
    assert person.secret is not None
    stale = totp.code_at(person.secret, current - 3)
    assert (await people.sign_in(person, code=stale)).status_code == 401

    code = person.code()
    assert (await people.sign_in(person, code=code)).status_code == 201
    replayed = await people.sign_in(person, code=code)
    assert replayed.status_code == 401
    assert replayed.json()["type"].endswith("/sign-in-refused")

    recovery = person.recovery_codes[0]
    used = await people.sign_in(person, code=recovery.upper())
    assert used.status_code == 201
    assert (await people.sign_in(person, code=recovery)).status_code == 401
    results = [e["result"] for e in await people.audit() if e["target"] == person.person["id"]]
    assert results.count("wrong_code") == 5
    assert results.count("success") == 2


async def test_one_totp_code_sent_twice_at_once_signs_in_once(people: People) -> None:
    person = await people.enrol()
    code = person.code()
    answers = await asyncio.gather(*(people.sign_in(person, code=code) for _ in range(2)))
    assert sorted(answer.status_code for answer in answers) == [201, 401]
    results = [e["result"] for e in await people.audit() if e["target"] == person.person["id"]]
    assert sorted(results[:2]) == ["success", "wrong_code"]


async def test_an_expired_or_used_invitation_is_refused(people: People, network: Network) -> None:
    token = await people.invitation_token(unique_email())
    body = {"name": "First", "password": PASSWORD}
    assert (await network.client.post(f"/v1/invitations/{token}", json=body)).status_code == 201
    count = len(await people.people_of())
    reused = await network.client.post(f"/v1/invitations/{token}", json={**body, "name": "Second"})
    assert reused.status_code == 410
    assert reused.json()["type"].endswith("/invitation-used")
    assert (await network.client.get(f"/v1/invitations/{token}")).status_code == 410

    expiring = await people.invitation_token(unique_email())
    async with network.app.state.database.transaction() as session:
        pending = select(Invitation).where(col(Invitation.accepted_at).is_(None))
        for invitation in (await session.execute(pending)).scalars():
            invitation.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    expired = await network.client.post(f"/v1/invitations/{expiring}", json=body)
    assert expired.status_code == 410
    assert expired.json()["type"].endswith("/invitation-expired")
    unknown = await network.client.post(f"/v1/invitations/{'x' * 43}", json=body)
    assert unknown.status_code == 404
    assert len(await people.people_of()) == count


async def test_an_address_of_another_organisations_person_cannot_be_invited(people: People) -> None:
    person = await people.enrol()
    lookalike_case = person.email.upper()
    refused = await people.invite(lookalike_case, organization_id=OTHER_ORGANIZATION)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/email-in-another-organization")
    again = await people.invite(person.email)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/email-taken")

    pending = unique_email()
    assert (await people.invite(pending)).status_code == 201
    elsewhere = await people.invite(pending, organization_id=OTHER_ORGANIZATION)
    assert elsewhere.status_code == 409
    listed = await people.client.get(
        f"/v1/organizations/{OTHER_ORGANIZATION}/invitations",
        headers=people.admin(OTHER_ORGANIZATION),
    )
    assert all(item["email"] not in (pending, person.email) for item in listed.json()["items"])


async def test_a_cross_site_post_without_the_csrf_token_is_refused(
    people: People, network: Network
) -> None:
    person = await people.enrol()
    csrf = await people.signed_in(person)
    calls = len(network.referrals.state.calls)
    missing = await network.client.post("/v1/cases", json={"subject": "x"})
    forged = await network.client.post(
        "/v1/cases", json={"subject": "x"}, headers={"X-CSRF-Token": "forged"})
    form = await network.client.post("/v1/cases", data={"subject": "x"})
    for refused in (missing, forged, form):
        assert refused.status_code == 403
        assert refused.json()["type"].endswith("/csrf-token-missing")
    assert len(network.referrals.state.calls) == calls  # nothing reached the service

    invitation = await network.client.post(
        "/v1/organizations/6f1c2a52-6a4e-4f57-9a53-2f4c1f0e5a01/invitations",
        json={"email": unique_email(), "roles": ["viewer"]},
    )
    assert invitation.status_code == 403
    assert (await network.client.delete("/v1/auth/session")).status_code == 403
    assert (await network.client.get("/v1/cases")).status_code == 200  # reading needs none

    # The gateway's own HTML forms send the token as a field.
    minted = await network.client.post("/v1/auth/session/token", data={"csrf_token": csrf})
    assert minted.status_code == 200
    bearer = {"Authorization": f"Bearer {minted.json()['access_token']}"}
    async with people.browser() as api:  # a bearer token needs no CSRF token
        assert (await api.post("/v1/cases", json={"subject": "x"}, headers=bearer)).status_code == 201


async def test_a_stolen_session_is_refused_after_sign_out_here_and_everywhere(
    people: People, network: Network
) -> None:
    person = await people.enrol()
    csrf = await people.signed_in(person)
    stolen = network.client.cookies[PLAIN_COOKIE]
    async with people.browser() as laptop:
        laptop_csrf = await people.signed_in(person, laptop, step_offset=1)
        assert (await network.client.delete(
            "/v1/auth/session", headers={"X-CSRF-Token": csrf})).status_code == 204
        async with people.browser() as thief:
            thief.cookies.set(PLAIN_COOKIE, stolen)
            assert (await thief.get("/v1/cases")).status_code == 401
            assert (await thief.get("/v1/auth/session")).status_code == 401
        assert (await laptop.get("/v1/cases")).status_code == 200
        laptop_cookie = laptop.cookies[PLAIN_COOKIE]
        assert (await laptop.delete(
            "/v1/auth/sessions", headers={"X-CSRF-Token": laptop_csrf})).status_code == 204
        async with people.browser() as thief:
            thief.cookies.set(PLAIN_COOKIE, laptop_cookie)
            assert (await thief.get("/v1/cases")).status_code == 401


async def test_a_deactivated_persons_session_and_token_are_refused(
    people: People, network: Network
) -> None:
    person = await people.enrol()
    csrf = await people.signed_in(person)
    minted = await network.client.post("/v1/auth/session/token", headers={"X-CSRF-Token": csrf})
    bearer = {"Authorization": f"Bearer {minted.json()['access_token']}"}
    async with people.browser() as api:
        assert (await api.get("/v1/cases", headers=bearer)).status_code == 200
        deactivated = await api.patch(
            f"/v1/people/{person.person['id']}", json={"active": False}, headers=people.admin())
        assert deactivated.status_code == 200
        assert deactivated.json()["active"] is False
        refused = await api.get("/v1/cases", headers=bearer)
        assert refused.status_code == 401
    assert (await network.client.get("/v1/cases")).status_code == 401
    assert (await people.sign_in(person)).status_code == 401
    results = [(e["action"], e["result"]) for e in await people.audit()
               if e["target"] == person.person["id"]]
    assert ("deactivated", "success") in results
    assert ("sign_in", "inactive") in results


async def test_a_session_id_planted_before_sign_in_never_becomes_the_signed_in_session(
    people: People, network: Network
) -> None:
    attacker = await people.enrol()
    victim = await people.enrol()
    async with people.browser() as attackers_browser:
        await people.signed_in(attacker, attackers_browser)
        planted = attackers_browser.cookies[PLAIN_COOKIE]
        async with people.browser() as victims_browser:
            victims_browser.cookies.set(PLAIN_COOKIE, planted, domain="gateway.local")
            await people.signed_in(victim, victims_browser)
            fresh = victims_browser.cookies[PLAIN_COOKIE]
            assert fresh != planted
            me = await victims_browser.get("/v1/auth/session")
            assert me.json()["person"]["id"] == victim.person["id"]
        # The planted id ended with the victim's sign-in: it leads nowhere.
        assert (await attackers_browser.get("/v1/auth/session")).status_code == 401


async def test_a_common_or_huge_password_is_refused_before_any_hashing(
    people: People, network: Network
) -> None:
    token = await people.invitation_token(unique_email())
    for password, reason in (
        ("Password123456!", "most commonly used passwords"),
        ("iloveyou2024", "most commonly used passwords"),
        ("short-1", "12 to 256 characters"),
    ):
        refused = await network.client.post(
            f"/v1/invitations/{token}", json={"name": "A", "password": password})
        assert refused.status_code == 422
        assert reason in refused.json()["errors"][0]["message"]
    started = time.perf_counter()
    huge = await network.client.post(
        f"/v1/invitations/{token}", json={"name": "A", "password": "x" * 4000})
    huge_sign_in = await network.client.post("/v1/auth/sessions", json={
        "email": unique_email(), "password": "y" * 4000, "code": None})
    assert time.perf_counter() - started < 0.5  # no Argon2 hashing of 4,000 characters
    assert huge.status_code == 422
    assert huge_sign_in.status_code == 422
    assert (await network.client.get(f"/v1/invitations/{token}")).status_code == 200  # unused


async def test_email_addresses_with_unicode_look_alikes_are_refused(
    people: People, network: Network
) -> None:
    for lookalike, reason in (
        ("p\u0430ypal@example.org", "mixes letters of different writing systems"),  # Cyrillic а
        ("ana@\u0430\u0440\u0435.com", "imitate Latin ones"),  # "аре" all Cyrillic
        ("ana@ex ample.org", "no spaces"),
    ):
        invitations = await invitations_stored(network)
        refused = await people.invite(lookalike)
        assert refused.status_code == 422, lookalike
        assert reason in refused.json()["errors"][0]["message"]
        sign_in = await network.client.post("/v1/auth/sessions", json={
            "email": lookalike, "password": PASSWORD, "code": "000000"})
        assert sign_in.status_code == 422
        assert await invitations_stored(network) == invitations
    # Compatibility forms are one mailbox: fullwidth letters and case fold to the same address.
    suffix = uuid.uuid4().hex[:8]
    person = await people.enrol(f"\uff2daria.{suffix}@Example.org")
    assert person.person["email"] == f"maria.{suffix}@example.org"
    person.email = f"MARIA.{suffix}@EXAMPLE.ORG"
    assert (await people.sign_in(person)).status_code == 201


async def test_passwords_second_factors_and_recovery_codes_are_stored_hashed_or_sealed(
    people: People, network: Network
) -> None:
    person = await people.enrol(name="Samira Aziz")
    await people.signed_in(person)
    async with network.app.state.database.transaction() as session:
        stored = await session.get(Person, uuid.UUID(person.person["id"]))
        rows = [row for table in PEOPLES_TABLES
                for row in (await session.execute(text(f"SELECT * FROM {table}"))).all()]
    every_row = " ".join(" ".join(map(str, row)) for row in rows)
    assert stored is not None
    assert person.secret is not None
    assert stored.totp_secret_sealed is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in every_row
    assert person.secret not in every_row
    assert person.secret.encode() not in bytes(stored.totp_secret_sealed)
    assert all(code not in every_row for code in person.recovery_codes)
    assert "Samira" not in every_row
    assert person.email not in every_row
