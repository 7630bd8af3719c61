"""Signing in through a National Society's own OpenID Connect provider, played by a local fake:
the authorization code flow with PKCE, the person linked by an invitation or admitted by the
roles the provider names, and the ways the flow is refused."""

import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

from gateway.tests.conftest import Serve, Standin, StartGateway

from .conftest import KNOWN_ORGANIZATION, OTHER_ORGANIZATION, replicas
from .fake_provider import FakeProvider, sign_in_through


async def test_a_person_accepts_an_invitation_through_her_societys_provider_and_signs_in(
    start_gateway: StartGateway, standin: Standin, serve: Serve,
    provider: FakeProvider,
) -> None:
    providers = {"nrcs": provider.provider()}
    async with replicas(start_gateway, standin, serve, sign_in_providers=providers,
                        public_url="http://gateway") as (gateway, _):
        listed = await gateway.client.get("/v1/auth/providers")
        assert listed.json() == [{"name": "nrcs", "organization_id": str(KNOWN_ORGANIZATION),
                                  "start_url": "/v1/auth/providers/nrcs/start"}]
        token = await gateway.invitation_token("bina.thapa@example.org", ["caseworker"])
        provider.next_user = {"sub": "nrcs-user-17", "name": "Bina Thapa",
                              "email": "Bina.Thapa@Example.org", "email_verified": True}
        async with gateway.browser() as browser:
            done = await sign_in_through(provider, browser, "nrcs", invitation=token,
                                         return_to="/cases")
            assert done.status_code == 303
            assert done.headers["location"] == "/cases"
            [asked] = provider.authorize_requests
            assert asked["code_challenge_method"] == "S256"
            assert len(asked["code_challenge"]) == 43
            assert asked["redirect_uri"] == "http://gateway/v1/auth/providers/nrcs/callback"
            me = (await browser.get("/v1/auth/session")).json()["person"]
            assert me["name"] == "Bina Thapa"
            assert me["email"] == "bina.thapa@example.org"
            assert me["roles"] == ["caseworker"]
            assert (await browser.get("/v1/cases")).status_code == 200
            minted = await browser.post("/v1/auth/session/token", headers={
                "X-CSRF-Token": (await browser.get("/v1/auth/session")).json()["csrf_token"]})
            claims = jwt.decode(minted.json()["access_token"], options={"verify_signature": False})
            assert claims["sub"] == me["id"]
            assert claims["amr"] == ["ext", "mfa"]
        # Linked now: the next sign-in needs no invitation, and the invitation is spent.
        async with gateway.browser() as browser:
            again = await sign_in_through(provider, browser, "nrcs")
            assert again.status_code == 303
            assert again.headers["location"] == "/"
            assert (await browser.get("/v1/auth/session")).json()["person"]["id"] == me["id"]
        assert (await gateway.client.get(f"/v1/invitations/{token}")).status_code == 410
        # She has no password here: none matches, not even the marker stored in its place.
        refused = await gateway.client.post("/v1/auth/sessions", json={
            "email": "bina.thapa@example.org", "password": "!", "code": None})
        assert refused.status_code == 401
        actions = [e["action"] for e in await gateway.audit() if e["target"] == me["id"]]
        assert actions.count("sign_in_external") == 2


async def test_the_flow_is_refused_when_it_is_not_this_browsers_or_the_provider_falls_short(
    start_gateway: StartGateway, standin: Standin, serve: Serve,
    provider: FakeProvider,
) -> None:
    providers = {"nrcs": provider.provider()}
    async with replicas(start_gateway, standin, serve, sign_in_providers=providers,
                        public_url="http://gateway") as (gateway, _):
        provider.next_user = {"sub": f"stranger-{uuid.uuid4().hex[:6]}", "name": "Stranger"}
        async with gateway.browser() as browser:
            unknown = await sign_in_through(provider, browser, "nrcs")
            assert unknown.status_code == 403
            assert unknown.json()["type"].endswith("/external-sign-in-refused")

        token = await gateway.invitation_token(f"x{uuid.uuid4().hex[:6]}@example.org")
        provider.next_user = {"sub": "no-mfa", "amr": ["pwd"]}
        async with gateway.browser() as browser:
            weak = await sign_in_through(provider, browser, "nrcs", invitation=token)
            assert weak.status_code == 403
            assert "second factor" in weak.json()["detail"]
        # A forwarded link: her provider vouches for someone else's address.
        provider.next_user = {"sub": "forwarded-to", "email": "brother@example.org",
                              "email_verified": True}
        async with gateway.browser() as browser:
            forwarded = await sign_in_through(provider, browser, "nrcs", invitation=token)
            assert forwarded.status_code == 403
            assert "another email address" in forwarded.json()["detail"]
            assert "waymark_session" not in browser.cookies
        assert (await gateway.client.get(f"/v1/invitations/{token}")).status_code == 200

        # A callback carried to another browser (login CSRF, a stolen code) finds no flow there.
        provider.next_user = {"sub": "someone"}
        async with gateway.browser() as victim, gateway.browser() as attacker:
            started = await attacker.get("/v1/auth/providers/nrcs/start")
            async with httpx.AsyncClient() as to_provider:
                answered = await to_provider.get(started.headers["location"])
            callback = urlsplit(answered.headers["location"])
            planted = await victim.get(f"{callback.path}?{callback.query}")
            assert planted.status_code == 400
            forged_state = parse_qs(callback.query)["code"][0]
            tampered = await attacker.get(f"{callback.path}?code={forged_state}&state=forged")
            assert tampered.status_code == 400
            assert "waymark_session" not in victim.cookies
            assert "waymark_session" not in attacker.cookies
        unknown_provider = await gateway.client.get("/v1/auth/providers/elsewhere/start")
        assert unknown_provider.status_code == 404


async def test_a_provider_naming_roles_admits_its_people_without_an_invitation(
    start_gateway: StartGateway, standin: Standin, serve: Serve,
    provider: FakeProvider,
) -> None:
    providers = {"nrcs": provider.provider(roles_claim="waymark.roles")}
    async with replicas(start_gateway, standin, serve, sign_in_providers=providers,
                        public_url="http://gateway") as (gateway, _):
        email = f"r{uuid.uuid4().hex[:6]}@example.org"
        provider.next_user = {"sub": f"sub-{email}", "name": "Ram", "email": email,
                              "waymark": {"roles": ["org_admin", "network_admin", "other"]}}
        async with gateway.browser() as browser:
            done = await sign_in_through(provider, browser, "nrcs")
            assert done.status_code == 303
            me = (await browser.get("/v1/auth/session")).json()["person"]
            assert me["roles"] == ["org_admin"]
            assert me["email"] == email
        provider.next_user = {"sub": "no-roles", "email": "n@example.org", "waymark": {"roles": []}}
        async with gateway.browser() as browser:
            assert (await sign_in_through(provider, browser, "nrcs")).status_code == 403
        assert email in [p["email"] for p in await gateway.people_of()]


async def test_a_provider_excused_from_mfa_still_admits_only_viewers_without_a_second_factor(
    start_gateway: StartGateway, standin: Standin, serve: Serve,
    provider: FakeProvider,
) -> None:
    providers = {"nrcs": provider.provider(roles_claim="waymark.roles", mfa_required=False)}
    async with replicas(start_gateway, standin, serve, sign_in_providers=providers,
                        public_url="http://gateway", viewer_second_factor_optional=True,
                        ) as (gateway, _):
        refused = []
        for roles, admitted in ((["caseworker"], False), (["org_admin"], False),
                                (["viewer"], True)):
            email = f"v{uuid.uuid4().hex[:6]}@example.org"
            provider.next_user = {"sub": f"sub-{email}", "email": email, "amr": ["pwd"],
                                  "waymark": {"roles": roles}}
            async with gateway.browser() as browser:
                answer = await sign_in_through(provider, browser, "nrcs")
                if admitted:
                    assert answer.status_code == 303
                    me = (await browser.get("/v1/auth/session")).json()["person"]
                    assert me["roles"] == ["viewer"]
                else:
                    assert answer.status_code == 403, roles
                    assert "second factor" in answer.json()["detail"]
                    assert "waymark_session" not in browser.cookies
                    refused.append(email)
        known = {p["email"] for p in await gateway.people_of()}
        assert refused
        assert not known.intersection(refused)  # refused people were not created


async def test_a_provider_shared_by_organisations_admits_only_people_its_claim_names_for_this_one(
    start_gateway: StartGateway, standin: Standin, serve: Serve, provider: FakeProvider
) -> None:
    providers = {"nrcs": provider.provider(roles_claim="waymark.roles",
                                           organization_claim="waymark.org")}
    async with replicas(start_gateway, standin, serve, sign_in_providers=providers,
                        public_url="http://gateway") as (gateway, _):
        emails = {}
        for organization in (OTHER_ORGANIZATION, None, KNOWN_ORGANIZATION):
            email = emails[organization] = f"o{uuid.uuid4().hex[:6]}@example.org"
            provider.next_user = {"sub": f"sub-{email}", "email": email, "waymark": {
                "roles": ["caseworker"], "org": str(organization).upper()}}
            async with gateway.browser() as browser:
                answer = await sign_in_through(provider, browser, "nrcs")
                if organization == KNOWN_ORGANIZATION:
                    assert answer.status_code == 303
                    assert (await browser.get("/v1/auth/session")).status_code == 200
                else:
                    assert answer.status_code == 403
                    assert "organisation" in answer.json()["detail"]
                    assert "waymark_session" not in browser.cookies
        known = {p["email"] for p in await gateway.people_of()}
        assert emails[KNOWN_ORGANIZATION] in known
        assert not known & {emails[OTHER_ORGANIZATION], emails[None]}
        results = [e["result"] for e in await gateway.audit() if e["action"] == "sign_in_external"]
        assert results[:3] == ["success", "other_organization", "other_organization"]
