"""Findings of a security review of people's accounts and sessions, each a test that failed
before its fix."""

import asyncio
import time
import uuid
from typing import Any

import pytest

from gateway.tests.conftest import Network, Serve, Standin, StartGateway
from waymark_gateway.identity.service import hasher
from waymark_gateway.people import passwords
from waymark_gateway.people.service import UNUSABLE_PASSWORD
from waymark_gateway.sessions.repository import RedisSessions, SessionRecord

from .conftest import KNOWN_ORGANIZATION, OTHER_ORGANIZATION, PASSWORD, People, replicas
from .fake_provider import FakeProvider, sign_in_through


async def test_review_a_viewer_given_a_role_that_needs_a_second_factor_must_enrol_first(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    async with replicas(start_gateway, standin, serve, viewer_second_factor_optional=True) as (gateway, _):
        viewer = await gateway.enrol(roles=["viewer"])
        reset = await gateway.client.post(
            f"/v1/people/{viewer.person['id']}/second-factor/reset", headers=gateway.admin())
        assert reset.status_code == 200
        signed_in = await gateway.client.post("/v1/auth/sessions", json={
            "email": viewer.email, "password": viewer.password})
        assert signed_in.status_code == 201
        promoted = await gateway.client.patch(
            f"/v1/people/{viewer.person['id']}", json={"roles": ["caseworker"]},
            headers=gateway.admin())
        assert promoted.status_code == 200
        # Her password-only session must not become a caseworker's: she enrols a factor first.
        assert (await gateway.client.get("/v1/auth/session")).status_code == 401
        assert (await gateway.client.get("/v1/cases")).status_code == 401
        again = await gateway.client.post("/v1/auth/sessions", json={
            "email": viewer.email, "password": viewer.password})
        assert again.status_code == 403
        assert again.json()["type"].endswith("/second-factor-enrolment-required")


async def test_review_a_viewer_given_a_role_keeps_her_session_when_she_has_a_second_factor(
    people: People, network: Network
) -> None:
    viewer = await people.enrol(roles=["viewer"])
    await people.signed_in(viewer)
    promoted = await network.client.patch(
        f"/v1/people/{viewer.person['id']}", json={"roles": ["caseworker"]},
        headers=people.admin())
    assert promoted.status_code == 200
    session = await network.client.get("/v1/auth/session")
    assert session.status_code == 200
    assert session.json()["person"]["roles"] == ["caseworker"]


async def test_review_a_password_only_external_account_costs_an_argon2_check_like_an_unknown_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A person who signs in through her provider has no password; trying one for her email
    must take as long as for an unknown email, or the timing tells that the email exists."""
    real = hasher
    verified: list[str] = []

    class Counting:
        def hash(self, password: str) -> str:
            return real.hash(password)

        def verify(self, password_hash: str, password: str) -> Any:
            verified.append(password_hash)
            return real.verify(password_hash, password)

    monkeypatch.setattr(passwords, "hasher", Counting())
    assert await passwords.password_matches(UNUSABLE_PASSWORD, "Amber-Lantern-Quietly-42") is False
    assert await passwords.password_matches(UNUSABLE_PASSWORD, UNUSABLE_PASSWORD) is False
    assert verified
    assert all(entry.startswith("$argon2id$") for entry in verified)


async def test_review_another_organisations_admin_finds_no_people_invitations_or_audit(
    people: People, network: Network
) -> None:
    await people.enrol()
    other_admin = people.admin(OTHER_ORGANIZATION)
    base = f"/v1/organizations/{KNOWN_ORGANIZATION}"
    for response in (
        await network.client.get(f"{base}/people", headers=other_admin),
        await network.client.get(f"{base}/invitations", headers=other_admin),
        await network.client.get(f"{base}/audit", headers=other_admin),
        await network.client.post(f"{base}/invitations", headers=other_admin,
                                  json={"email": "someone@example.org", "roles": ["viewer"]}),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["status"] == 404
    caseworker = network.headers(KNOWN_ORGANIZATION, "caseworker")
    assert (await network.client.get(f"{base}/people", headers=caseworker)).status_code == 403
    assert "someone@example.org" not in str(await people.audit())


async def test_review_a_person_token_never_outlives_the_session_that_minted_it(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    async with replicas(start_gateway, standin, serve, session_max_hours=3 / 3600) as (gateway, _):
        person = await gateway.enrol()
        csrf = await gateway.signed_in(person)
        minted = await gateway.client.post("/v1/auth/session/token", headers={"X-CSRF-Token": csrf})
        assert minted.status_code == 200
        token = minted.json()["access_token"]
        assert minted.json()["expires_in"] <= 3
        await asyncio.sleep(3.5)
        assert (await gateway.client.get("/v1/cases")).status_code == 401  # the session ended
        async with gateway.browser() as api:
            late = await api.get("/v1/cases", headers={"Authorization": f"Bearer {token}"})
        assert late.status_code == 401


async def test_review_two_invitations_of_one_address_accepted_at_once_make_one_person(
    people: People, network: Network
) -> None:
    email = f"twice-{uuid.uuid4().hex[:8]}@example.org"
    tokens = [await people.invitation_token(email), await people.invitation_token(email)]
    answers = await asyncio.gather(*(
        network.client.post(f"/v1/invitations/{token}", json={"name": "Amina", "password": PASSWORD})
        for token in tokens
    ))
    assert sorted(answer.status_code for answer in answers) == [201, 409], [a.text for a in answers]
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert refused.json()["type"].endswith("/email-taken")
    assert [p["email"] for p in await people.people_of()].count(email) == 1


async def test_review_a_request_in_flight_does_not_undo_a_role_change_in_the_shared_store(
    redis_url: str, redis_prefix: str
) -> None:
    """An admin's demotion landing between a request's read of the session and its write-back
    must stand: the request must not write the old roles back."""
    store = RedisSessions(redis_url, prefix=redis_prefix, idle_seconds=60, timeout=2)
    now = time.time()
    person_id = uuid.uuid4()
    record = SessionRecord(
        person_id=person_id, organization_id=KNOWN_ORGANIZATION, roles=("org_admin",),
        amr=("pwd", "otp", "mfa"), csrf_token="csrf", created_at=now, expires_at=now + 3600,
        last_seen_at=now,
    )
    await store.save("a-hash", record)
    read = store.redis.get

    async def read_then_demoted(key: str) -> Any:
        text = await read(key)
        store.redis.get = read  # type: ignore[method-assign]  # the test swaps the read back
        await store.set_roles(person_id, ("viewer",))  # the admin, at this very moment
        return text

    # a stand-in read, to demote the person between reading and checking the record
    store.redis.get = read_then_demoted  # type: ignore[method-assign,assignment]
    await store.load("a-hash")
    reloaded = await store.load("a-hash")
    await store.close()
    assert reloaded is not None
    assert reloaded.roles == ("viewer",)


async def test_review_a_refused_sign_in_through_a_provider_is_in_the_audit_log(
    start_gateway: StartGateway, standin: Standin, serve: Serve, provider: FakeProvider,
) -> None:
    providers = {"nrcs": provider.provider(roles_claim="waymark.roles")}
    async with replicas(start_gateway, standin, serve, sign_in_providers=providers,
                        public_url="http://gateway") as (gateway, _):
        email = f"r{uuid.uuid4().hex[:6]}@example.org"
        provider.next_user = {"sub": f"sub-{email}", "name": "Ram", "email": email,
                              "waymark": {"roles": ["caseworker"]}}
        async with gateway.browser() as browser:
            assert (await sign_in_through(provider, browser, "nrcs")).status_code == 303
        person_id = next(p["id"] for p in await gateway.people_of() if p["email"] == email)
        deactivated = await gateway.client.patch(
            f"/v1/people/{person_id}", json={"active": False}, headers=gateway.admin())
        assert deactivated.status_code == 200
        async with gateway.browser() as browser:
            assert (await sign_in_through(provider, browser, "nrcs")).status_code == 401
        provider.next_user = {"sub": "no-roles", "email": "n@example.org", "waymark": {"roles": []}}
        async with gateway.browser() as browser:
            assert (await sign_in_through(provider, browser, "nrcs")).status_code == 403
        refusals = [entry for entry in await gateway.audit()
                    if entry["action"] == "sign_in_external" and entry["result"] != "success"]
        assert [(entry["target"], entry["result"]) for entry in refusals][1] == (person_id, "inactive")
        unknown = refusals[0]
        assert unknown["result"] == "no_role"
        assert unknown["actor"] == "anonymous"
        assert "no-roles" not in str(refusals)
        assert "n@example.org" not in str(refusals)


async def _minted_token(people: Any, person: Any) -> dict[str, str]:
    """Signs `person` in on the gateway's client and returns a bearer header for her new token."""
    csrf = await people.signed_in(person)
    minted = await people.client.post("/v1/auth/session/token", headers={"X-CSRF-Token": csrf})
    assert minted.status_code == 200
    return {"Authorization": f"Bearer {minted.json()['access_token']}"}


async def _cases_status(people: People, bearer: dict[str, str]) -> int:
    async with people.browser() as api:  # no cookie: the token alone
        return (await api.get("/v1/cases", headers=bearer)).status_code


async def test_review_a_person_token_is_refused_once_she_signs_out(
    people: People, network: Network
) -> None:
    person = await people.enrol()
    bearer = await _minted_token(people, person)
    csrf = (await network.client.get("/v1/auth/session")).json()["csrf_token"]
    assert await _cases_status(people, bearer) == 200
    signed_out = await network.client.delete("/v1/auth/session", headers={"X-CSRF-Token": csrf})
    assert signed_out.status_code in (200, 204)
    assert await _cases_status(people, bearer) == 401


async def test_review_a_person_token_is_refused_after_sign_out_everywhere_with_redis_sessions(
    start_gateway: StartGateway, standin: Standin, serve: Serve, redis_url: str,
    redis_prefix: str,
) -> None:
    async with replicas(start_gateway, standin, serve, redis_url=redis_url,
                        redis_key_prefix=redis_prefix) as (first, second):
        person = await first.enrol()
        bearer = await _minted_token(first, person)
        assert await _cases_status(second, bearer) == 200
        async with first.browser() as elsewhere:
            csrf = await first.signed_in(person, elsewhere, step_offset=1)
            ended = await elsewhere.delete("/v1/auth/sessions", headers={"X-CSRF-Token": csrf})
            assert ended.status_code in (200, 204)
        assert await _cases_status(second, bearer) == 401
        assert await _cases_status(first, bearer) == 401


async def test_review_a_person_token_is_refused_after_her_second_factor_is_reset(
    people: People, network: Network
) -> None:
    person = await people.enrol()
    bearer = await _minted_token(people, person)
    reset = await network.client.post(
        f"/v1/people/{person.person['id']}/second-factor/reset", headers=people.admin())
    assert reset.status_code == 200
    assert await _cases_status(people, bearer) == 401


async def test_review_a_person_token_minted_before_a_demotion_no_longer_carries_her_old_roles(
    people: People, network: Network
) -> None:
    person = await people.enrol(roles=["org_admin"])
    bearer = await _minted_token(people, person)
    assert (await network.client.get(
        f"/v1/organizations/{KNOWN_ORGANIZATION}/people", headers=bearer)).status_code == 200
    demoted = await network.client.patch(
        f"/v1/people/{person.person['id']}", json={"roles": ["viewer"]}, headers=people.admin())
    assert demoted.status_code == 200
    assert await _cases_status(people, bearer) == 401
    csrf = (await network.client.get("/v1/auth/session")).json()["csrf_token"]
    minted = await network.client.post("/v1/auth/session/token", headers={"X-CSRF-Token": csrf})
    assert minted.status_code == 200  # her session stands, with her new roles
    async with people.browser() as api:
        listed = await api.get(f"/v1/organizations/{KNOWN_ORGANIZATION}/people",
                               headers={"Authorization": f"Bearer {minted.json()['access_token']}"})
    assert listed.status_code == 403


async def test_review_a_person_token_minted_before_her_deactivation_stays_refused_once_reactivated(
    people: People, network: Network
) -> None:
    person = await people.enrol()
    bearer = await _minted_token(people, person)
    path = f"/v1/people/{person.person['id']}"
    assert (await network.client.patch(path, json={"active": False}, headers=people.admin())).status_code == 200
    assert await _cases_status(people, bearer) == 401
    assert (await network.client.patch(path, json={"active": True}, headers=people.admin())).status_code == 200
    await network.app.state.revoked_clients.refresh()  # as every replica does within seconds
    assert await _cases_status(people, bearer) == 401
