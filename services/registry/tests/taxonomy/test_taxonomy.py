import uuid

from services.registry.tests.conftest import Registry
from waymark_kernel.auth import VIEWER

TOP_LEVEL = {
    "health", "mhpss", "legal", "shelter", "protection", "rfl", "food_cash", "livelihoods",
    "education", "return_reintegration",
}
IASC_CLUSTERS = {
    "Health", "Protection", "Shelter", "Food Security", "Nutrition", "Education", "Early Recovery",
}


async def test_taxonomy_is_two_levels_with_clusters_and_five_languages(registry: Registry) -> None:
    response = await registry.client.get(
        "/v1/taxonomy", headers=registry.headers(uuid.uuid4(), VIEWER)
    )

    assert response.status_code == 200
    body = response.json()
    assert body["taxonomy"]["name"] == "Waymark migrant services"
    assert body["taxonomy"]["version"] == "2026-11"
    terms = {term["code"]: term for term in body["items"]}
    assert {code for code, term in terms.items() if term["parent_code"] is None} == TOP_LEVEL
    for term in terms.values():
        assert term["parent_code"] is None or terms[term["parent_code"]]["parent_code"] is None
        # The search keys of PostgreSQL take a code's parent to be its dotted prefix.
        assert term["parent_code"] == (term["code"].rpartition(".")[0] or None)
        assert term["iasc_cluster"] in IASC_CLUSTERS
        assert set(term["names"]) == {"en", "fr", "es", "ar", "ru"}
        assert all(term["names"].values())
        assert term["name"] == term["names"]["en"]
        assert term["description"]
    assert len({term["id"] for term in terms.values()}) == len(terms)
    assert {"protection.child_protection", "protection.gbv", "protection.anti_trafficking"} <= {
        code for code, term in terms.items() if term["parent_code"] == "protection"
    }
    assert terms["protection.gbv"]["iasc_cluster"] == "Protection"
    assert terms["shelter"]["iasc_cluster"] == "Shelter"
    assert terms["return_reintegration"]["iasc_cluster"] == "Early Recovery"


async def test_taxonomy_needs_a_token(registry: Registry) -> None:
    assert (await registry.client.get("/v1/taxonomy")).status_code == 401
