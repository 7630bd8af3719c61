import uuid

from services.registry.tests.conftest import Registry
from waymark_kernel.auth import VIEWER


async def test_fifteen_programme_countries_with_their_national_societies(
    registry: Registry
) -> None:
    nepal = await registry.organization(
        name="Nepal Red Cross Society", type="national_society", country="NP"
    )
    await registry.organization(name="A Thai CSO", type="cso", country="TH")

    response = await registry.client.get(
        "/v1/countries", headers=registry.headers(uuid.uuid4(), VIEWER)
    )

    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    countries = {item["code"]: item for item in body["items"]}
    assert sorted(countries) == [
        "BJ", "EC", "ET", "GT", "HN", "ID", "JO", "KZ", "LB", "MA", "NP", "RU", "TH", "TJ", "ZW",
    ]
    assert countries["NP"] == {
        "code": "NP", "name": "Nepal",
        "national_society": {"name": "Nepal Red Cross Society", "organization_id": nepal["id"]},
    }
    assert countries["TH"]["national_society"] == {
        "name": "Thai Red Cross Society", "organization_id": None,
    }
    assert countries["ID"]["national_society"]["name"] == (
        "Indonesian Red Cross (Palang Merah Indonesia)"
    )
