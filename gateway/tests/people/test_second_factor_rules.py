"""Who may sign in without a second factor: a viewer when configured, a demo person in a demo
network; nobody else."""


import jwt

from gateway.tests.conftest import Network, Serve, Standin, StartGateway

from .conftest import People, replicas


async def test_a_viewer_may_go_without_a_second_factor_only_when_configured(
    start_gateway: StartGateway, standin: Standin, serve: Serve
) -> None:
    async with replicas(start_gateway, standin, serve, viewer_second_factor_optional=True) as (gateway, _):
        viewer = await gateway.enrol(roles=["viewer"])
        caseworker = await gateway.enrol(roles=["caseworker"])
        # Once enrolled, the factor is needed; after a reset the viewer goes without.
        assert (await gateway.sign_in(viewer, code="")).status_code == 401
        for person in (viewer, caseworker):
            reset = await gateway.client.post(
                f"/v1/people/{person.person['id']}/second-factor/reset", headers=gateway.admin())
            assert reset.status_code == 200
        without = await gateway.client.post("/v1/auth/sessions", json={
            "email": viewer.email, "password": viewer.password})
        assert without.status_code == 201
        refused = await gateway.client.post("/v1/auth/sessions", json={
            "email": caseworker.email, "password": caseworker.password})
        assert refused.status_code == 403
        assert refused.json()["type"].endswith("/second-factor-enrolment-required")


async def test_only_a_demo_network_may_waive_the_second_factor(
    people: People, network: Network, start_gateway: StartGateway,
    standin: Standin, serve: Serve,
) -> None:
    refused = await network.client.post(
        f"/v1/organizations/{network.known_organization}/invitations", headers=people.admin(),
        json={"email": "demo.person@example.org", "roles": ["caseworker"],
              "second_factor_waived": True},
    )
    assert refused.status_code == 422
    async with replicas(start_gateway, standin, serve, seed_demo=True) as (demo, _):
        invited = await demo.client.post(
            f"/v1/organizations/{demo.gateway.known_organization}/invitations",
            headers=demo.admin(),
            json={"email": "demo.caseworker@example.org", "roles": ["caseworker"],
                  "second_factor_waived": True},
        )
        token = invited.json()["accept_url"].rsplit("/", 1)[1]
        accepted = await demo.client.post(
            f"/v1/invitations/{token}", json={"name": "Demo", "password": "Amber-Lantern-Quietly-42"})
        assert accepted.status_code == 201
        assert accepted.json()["totp"] is None
        signed_in = await demo.client.post("/v1/auth/sessions", json={
            "email": "demo.caseworker@example.org", "password": "Amber-Lantern-Quietly-42"})
        assert signed_in.status_code == 201
        minted = await demo.client.post(
            "/v1/auth/session/token", headers={"X-CSRF-Token": signed_in.json()["csrf_token"]})
        claims = jwt.decode(minted.json()["access_token"], options={"verify_signature": False})
        assert claims["amr"] == ["pwd"]  # no "mfa": the services can tell
