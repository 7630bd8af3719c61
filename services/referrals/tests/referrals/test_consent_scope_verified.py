"""Issue 17, finding 1: a consent scope that names organisation types or countries is given
against what the network vouches for, so it covers only a receiver the registry's read-model
holds as verified."""

import uuid
from typing import Any

import httpx

from services.referrals.tests.conftest import Flow, Json, Network, Org, ProblemCheck
from waymark_kernel.events import OrganizationChanged

TO_NATIONAL_SOCIETIES = [{"organization_types": ["national_society"]}]
TO_FRANCE = [{"countries": ["FR"]}]


async def test_finding_1_an_unverified_organisation_satisfies_no_type_or_country_scope(
    flow: Flow, client: httpx.AsyncClient, network: Network, problem: ProblemCheck
) -> None:
    sender = await network.organization("NP")
    receiver_id = uuid.uuid4()
    receiver = Org(receiver_id, "LB", "cso", headers={}, viewer={})  # announced below

    async def registry_says(event_type: str, **fields: Any) -> None:
        await network.publish(event_type, OrganizationChanged(
            organization_id=receiver_id, name="Amel", **fields,
        ))

    async def consented(scope: list[Json]) -> Json:
        return await flow.case(sender, consent={
            "legal_basis": "consent", "given_at": "2026-01-01T00:00:00Z", "scope": scope,
        })

    async def refer(case: Json) -> httpx.Response:
        return await client.post(
            "/v1/referrals", headers=sender.headers, json=flow.referral_body(case, receiver, None)
        )

    await registry_says("organization.created", type="cso", country="LB", verified=True)
    to_societies, to_france = await consented(TO_NATIONAL_SOCIETIES), await consented(TO_FRANCE)
    unrestricted = await consented([])
    for case in (to_societies, to_france):
        problem(await refer(case), 422, "outside-consent-scope")

    await registry_says(
        "organization.updated", type="national_society", country="FR", verified=False,
        changed_fields=["country", "type", "verified"],
    )
    for case in (to_societies, to_france):
        refused = problem(await refer(case), 422, "outside-consent-scope")
        assert "unverified national_society in FR" in refused["detail"]
    assert (await refer(unrestricted)).status_code == 201

    await registry_says(
        "organization.updated", type="national_society", country="FR", verified=True,
        changed_fields=["verified"],
    )
    for case in (to_societies, to_france):
        assert (await refer(case)).status_code == 201
