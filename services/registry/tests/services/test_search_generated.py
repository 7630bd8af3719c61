"""Search on a generated directory against answers computed in Python, on both databases.

Every filter alone, every pair of them and random larger combinations: the ids found, in order,
across pages."""

import itertools
import math
import random
from collections.abc import Callable
from typing import Any, get_args

import pytest

from services.registry.tests.conftest import Registry
from waymark_kernel.auth import ORG_ADMIN, VIEWER
from waymark_registry.services.schemas import MigrationStage, Population
from waymark_registry.taxonomy.service import CODES, with_subcategories

EARTH_RADIUS_KM = 6371.0088
# No word is a prefix of another, and no stem of one is a prefix of another.
WORDS = ["amber", "birch", "cedar", "dune", "ember", "fjord", "grove", "heron", "iris", "jade"]
COUNTRIES = {"NP": (27.7, 85.3), "TH": (13.75, 100.5), "JO": (31.95, 35.9)}
LANGUAGES = ["ne", "th", "ar", "en", "fr"]
POPULATIONS = list(get_args(Population))
STAGES = list(get_args(MigrationStage))
STATUSES = ["active", "inactive", "temporarily_closed"]

# the registry, its organisations, the services made (body, organisation, id) and their seed
Generated = tuple[Registry, list[dict[str, Any]], list[dict[str, Any]], random.Random]


def generated_services(
    rng: random.Random, organizations: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    services = []
    for number in range(36):
        organization = rng.choice(organizations)
        locations = []
        for _ in range(rng.choice([0, 1, 1, 2])):
            country = rng.choice(list(COUNTRIES))
            lat, lon = COUNTRIES[country]
            locations.append({
                "city": "Somewhere", "country": country,
                "latitude": round(lat + rng.uniform(-1.5, 1.5), 4),
                "longitude": round(lon + rng.uniform(-1.5, 1.5), 4),
                "confidential": rng.random() < 0.3,
            })
        services.append({
            "organization": organization,
            "body": {
                "name": f"{' '.join(rng.sample(WORDS, 2)).title()} {number:02d}",
                "description": " ".join(rng.sample(WORDS, 2)),
                "categories": rng.sample(sorted(CODES), rng.randint(1, 3)),
                "status": rng.choice(STATUSES),
                "languages": rng.sample(LANGUAGES, rng.randint(0, 3)),
                "populations": rng.sample(POPULATIONS, rng.randint(0, 2)),
                "migration_stages": rng.sample(STAGES, rng.randint(0, 2)),
                "accepts_referrals": rng.random() < 0.7,
                "locations": locations,
            },
        })
    return services


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dlat, dlon = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    h = (math.sin(dlat / 2) ** 2
         + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * math.sin(dlon / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(h, 1.0)))


def public_point(location: dict[str, Any], owner: bool) -> tuple[float, float]:
    if location["confidential"] and not owner:
        return round(location["latitude"], 1), round(location["longitude"], 1)
    return location["latitude"], location["longitude"]


def _matches(body: dict[str, Any], organization: dict[str, Any], params: dict[str, Any]) -> bool:
    """Whether a service meets every filter of `params` but the distance."""
    text = f"{body['name']} {body['description']}".lower().split()
    countries = {location["country"] for location in body["locations"]}
    checks: dict[str, Callable[[Any], bool]] = {
        "q": lambda q: all(any(t.startswith(w) for t in text) for w in q.lower().split()),
        "country": lambda c: c in (countries or {organization["country"]}),
        "category": lambda c: bool(with_subcategories([c]) & set(body["categories"])),
        "language": lambda language: language in body["languages"],
        "population": lambda p: bool({p, "all_migrants"} & set(body["populations"])),
        "migration_stage": lambda stage: stage in body["migration_stages"],
        "accepts_referrals": lambda value: body["accepts_referrals"] == value,
        "organization_id": lambda org: organization["id"] == org,
        "status": lambda status: body["status"] == status,
    }
    return all(checks[name](value) for name, value in params.items() if name in checks)


def expected(services: list[dict[str, Any]], viewer_org: str, params: dict[str, Any]) -> list[str]:
    """The ids a search must return, in order: the brute-force answer."""
    hits = []
    for service in services:
        body, organization = service["body"], service["organization"]
        if not _matches(body, organization, params):
            continue
        if "radius_km" in params:
            owner = organization["id"] == viewer_org
            distances = [
                great_circle_km(params["lat"], params["lon"], *public_point(location, owner))
                for location in body["locations"]
            ]
            if not distances or min(distances) > params["radius_km"]:
                continue
            hits.append(((min(distances), service["id"]), service["id"]))
        else:
            hits.append(((body["name"], service["id"]), service["id"]))
    return [identifier for _, identifier in sorted(hits)]


def single_filters(
    services: list[dict[str, Any]], organizations: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    return [
        {"q": "cedar"}, {"q": "He"}, {"q": "amber birch"},
        {"q": services[7]["body"]["name"].split()[0] + " 07"},
        *({"country": country} for country in COUNTRIES),
        {"category": "health"}, {"category": "legal.information"}, {"category": "protection"},
        {"language": "ne"}, {"language": "fr"},
        {"population": "victims_of_trafficking"}, {"population": "returnees"},
        {"migration_stage": "transit"}, {"migration_stage": "return"},
        {"accepts_referrals": True}, {"accepts_referrals": False},
        {"organization_id": organizations[0]["id"]}, {"status": "active"},
        {"lat": 27.7, "lon": 85.3, "radius_km": 120},
        {"lat": 31.9, "lon": 36.0, "radius_km": 60},
        {"lat": 20.0, "lon": 95.0, "radius_km": 1800},
    ]


@pytest.fixture
async def generated(any_registry: Registry) -> Generated:
    rng = random.Random(20261123)
    registry = any_registry
    organizations = [
        await registry.organization(country=country, name=f"Provider {country} {n}")
        for n in range(2) for country in COUNTRIES
    ]
    services = generated_services(rng, organizations)
    for service in services:
        response = await registry.client.post(
            "/v1/services", json=service["body"],
            headers=registry.headers(service["organization"]["id"], ORG_ADMIN),
        )
        assert response.status_code == 201, response.text
        service["id"] = response.json()["id"]
    return registry, organizations, services, rng


async def walk(registry: Registry, viewer_org: str, params: dict[str, Any]) -> list[str]:
    """Every page of a search, 4 items at a time."""
    found, cursor = [], None
    while True:
        page = await registry.client.get(
            "/v1/services", headers=registry.headers(viewer_org, VIEWER),
            params={**params, "limit": 4, **({"cursor": cursor} if cursor else {})},
        )
        assert page.status_code == 200, page.text
        found += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found


async def test_every_filter_and_combination_matches_brute_force(generated: Generated) -> None:
    registry, organizations, services, rng = generated
    singles = single_filters(services, organizations)
    pairs = [
        {**a, **b} for a, b in itertools.combinations(singles, 2)
        if not set(a) & set(b)  # two values of the same filter is not a combination
    ]
    larger: list[dict[str, Any]] = []
    while len(larger) < 25:
        chosen = rng.sample(singles, rng.randint(3, 5))
        if len({key for params in chosen for key in params}) == sum(map(len, chosen)):
            larger.append({key: value for params in chosen for key, value in params.items()})
    assert len(pairs) > 150
    for params in [{}, *singles, *pairs, *larger]:
        viewer = rng.choice(organizations)["id"]
        assert await walk(registry, viewer, params) == expected(services, viewer, params), params
    non_empty = [p for p in singles if expected(services, organizations[0]["id"], p)]
    assert len(non_empty) == len(singles)  # every single filter finds something to compare
