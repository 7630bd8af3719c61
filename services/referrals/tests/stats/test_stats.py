import httpx

from services.referrals.tests.conftest import Flow, Json, Network, ProblemCheck
from waymark_kernel.clock import utcnow
from waymark_kernel.testing import TestIssuer


async def test_figures_by_group_with_small_cells_suppressed(
    flow: Flow, client: httpx.AsyncClient, network: Network, issuer: TestIssuer,
    problem: ProblemCheck,
) -> None:
    since = utcnow().isoformat()
    sender = await network.organization("NP")
    lebanon = await network.organization("LB", type="cso")
    jordan = await network.organization("JO", type="cso")
    case = await flow.case(sender)
    to_lebanon = [
        await flow.refer(sender, lebanon, None, case=case, categories=["legal_aid", "shelter"])
        for _ in range(6)
    ]
    for _ in range(2):
        await flow.refer(sender, jordan, None, case=case, urgency="emergency")
    await flow.refer(sender, jordan, None, case=case, status="draft")  # nobody's figure yet
    for referral in to_lebanon[:5]:
        assert (await flow.move(lebanon, referral, "accepted")).status_code == 200

    async def stats(org_headers: dict[str, str], group_by: str) -> Json:
        response = await client.get(
            "/v1/stats/referrals", headers=org_headers,
            params={"group_by": group_by, "since": since},
        )
        assert response.status_code == 200, response.text
        figures: Json = response.json()
        return figures

    corridors = await stats(sender.headers, "corridor")
    assert corridors["scope"] == "organization"
    by_key = {(g["key"]["from_country"], g["key"]["to_country"]): g for g in corridors["groups"]}
    assert by_key[("NP", "LB")]["count"] == 6
    assert by_key[("NP", "JO")]["count"] == "<5"
    assert by_key[("NP", "LB")]["answered_within_respond_by"] == 1.0
    assert by_key[("NP", "LB")]["median_hours_to_response"] >= 0
    assert by_key[("NP", "JO")]["median_hours_to_response"] is None
    # 8 in all, but publishing it would reveal the suppressed NP → JO cell as 8 − 6.
    assert corridors["total"] is None

    statuses = await stats(sender.headers, "status")
    assert {g["key"]["status"]: g["count"] for g in statuses["groups"]} == {
        "accepted": 5, "requested": "<5",
    }
    assert statuses["total"] is None

    received = await stats(lebanon.headers, "corridor")
    assert [(g["key"], g["count"]) for g in received["groups"]] == [
        ({"from_country": "NP", "to_country": "LB"}, 6),
    ]
    # Lebanon's six are one requested and five accepted: the status "<5" withholds the total.
    assert received["total"] is None
    assert received["answered_within_respond_by"] == 1.0
    categories = await stats(lebanon.headers, "category")
    assert {g["key"]["category"]: g["count"] for g in categories["groups"]} == {
        "legal_aid": 6, "shelter": 6,
    }
    assert categories["total"] is None
    await flow.move(lebanon, to_lebanon[5], "accepted")
    assert (await stats(lebanon.headers, "category"))["total"] == 6
    months = await stats(lebanon.headers, "month")
    assert [g["key"]["month"] for g in months["groups"]] == [utcnow().strftime("%Y-%m")]
    jordan_urgency = await stats(jordan.headers, "urgency")
    assert jordan_urgency["groups"] == [{
        "key": {"urgency": "emergency"}, "count": "<5", "median_hours_to_response": None,
        "answered_within_respond_by": None,
    }]
    assert jordan_urgency["total"] is None
    assert jordan_urgency["median_hours_to_response"] is None

    network_view = await stats(issuer.headers(None, "network_admin"), "corridor")
    assert network_view["scope"] == "network"
    assert {
        (g["key"]["from_country"], g["key"]["to_country"]): g["count"]
        for g in network_view["groups"]
    } == {("NP", "LB"): 6, ("NP", "JO"): "<5"}

    problem(await client.get(
        "/v1/stats/referrals", headers=sender.headers, params={"group_by": "person"}
    ), 422)
    problem(await client.get("/v1/stats/referrals", headers=issuer.headers(None, "viewer"),
                             params={"group_by": "status"}), 403)
