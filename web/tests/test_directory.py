"""The directory search over HTTP against the real network with its demo data: "near" a city
of the directory (or coordinates), a place it does not know said plainly on the page, and the
results on a map drawn on the server, confidential places at city level only."""

import gzip
import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.support import Network
from web.tests.support import create_service, enrol, signed_in_client

NEPAL = "Nepal Red Cross Society"
JORDAN = "Jordan National Red Crescent Society"
HIDDEN_PLACE = ("JO", "Amman", 31.98765, 35.87654)
MARKER = re.compile(r'<circle class="marker( city-level)?" cx="[\d.]+" cy="[\d.]+" r="8" '
                    r'data-service="([0-9a-f-]{36})" data-lat="([-\d.]+)" data-lon="([-\d.]+)"/>')


@pytest.fixture(scope="module")
def sita(network: Network) -> Iterator[httpx.Client]:
    person = enrol(network.base_url, Path(network.data_dir), NEPAL, "Sita Sharma")
    with closing(signed_in_client(network.base_url, person)) as client:
        yield client


def places_listed(html: str) -> set[str]:
    """The city, country of each result's first location."""
    return set(re.findall(r'<ul class="facts">\s*(?:<li>[^<]*km[^<]*</li>)?\s*<li>([^<]+)</li>', html))


@pytest.mark.parametrize("near", ["Amman", "ammán, Jordan", "AMMAN, jo", "31.95, 35.93"])
def test_services_near_a_city_of_the_directory_are_found_by_its_name(
    sita: httpx.Client, near: str,
) -> None:
    page = sita.get("/services", params={"near": near, "radius_km": 50})
    assert page.status_code == 200
    assert "services found" in page.text and "km away" in page.text
    assert places_listed(page.text) == {"Amman, Jordan"}  # Beirut is 230 km away


def test_the_country_is_named_in_the_visitors_language(sita: httpx.Client) -> None:
    page = sita.get("/services", params={"near": "Beirut, Liban", "radius_km": 25, "lang": "fr"})
    assert page.status_code == 200 and places_listed(page.text) == {"Beirut, Liban"}
    sita.get("/services", params={"lang": "en"})


def test_a_place_the_directory_does_not_know_is_said_on_the_page(sita: httpx.Client) -> None:
    page = sita.get("/services", params={"near": "Atlantis <b>", "radius_km": 50})
    assert page.status_code == 200
    assert "No city called “Atlantis &lt;b&gt;” is in the directory" in page.text
    assert "services found" not in page.text


@pytest.fixture(scope="module")
def hidden_shelter(network: Network) -> dict[str, Any]:
    return create_service(network.base_url, Path(network.data_dir), JORDAN, "Hidden shelter",
                          HIDDEN_PLACE)


def markers(html: str) -> dict[str, tuple[bool, str, str]]:
    found = {service: (bool(city), lat, lon) for city, service, lat, lon in MARKER.findall(html)}
    assert len(found) == len(MARKER.findall(html)), "one marker per service"
    return found


def test_the_map_shows_each_result_once_and_a_confidential_place_at_its_city(
    sita: httpx.Client, hidden_shelter: dict[str, Any],
) -> None:
    search = {"country": "JO", "q": "shelter"}
    listed = sita.get("/services", params=search)
    assert "<svg" not in listed.text and 'href="/services?country=JO&amp;q=shelter&amp;view=map#map"' in listed.text
    shown = sita.get("/services", params=search | {"view": "map"})
    assert shown.status_code == 200 and "<svg" in shown.text and 'class="land programme"' in shown.text
    results = sita.get("/v1/services", params=search | {"limit": 30}).json()["items"]
    on_map = markers(shown.text)
    assert set(on_map) == {service["id"] for service in results} and hidden_shelter["id"] in on_map
    city_level, lat, lon = on_map[hidden_shelter["id"]]
    assert city_level and (lat, lon) == ("31.9", "35.9")  # the city of the directory, rounded
    for service in results:
        level, lat, lon = on_map[service["id"]]
        assert level == service["locations"][0]["confidential"]
        if level:
            assert len(lat.partition(".")[2]) <= 1 and len(lon.partition(".")[2]) <= 1
    extra = len(gzip.compress(shown.content)) - len(gzip.compress(listed.content))
    assert 0 < extra <= 120 * 1024


def test_the_owner_too_sees_her_confidential_place_on_the_map_at_city_level(
    network: Network, hidden_shelter: dict[str, Any],
) -> None:
    owner = enrol(network.base_url, Path(network.data_dir), JORDAN, "Rania Haddad")
    with closing(signed_in_client(network.base_url, owner)) as rania:
        shown = rania.get("/services", params={"q": "Hidden shelter", "view": "map"}).text
    city_level, lat, lon = markers(shown)[hidden_shelter["id"]]
    assert city_level and (lat, lon) == ("32.0", "35.9")
    assert "31.98765" not in shown and "35.87654" not in shown


def test_the_directory_kept_for_offline_search_is_her_countrys_public_directory(
    network: Network, hidden_shelter: dict[str, Any],
) -> None:
    base, data_dir = network.base_url, Path(network.data_dir)
    night = create_service(base, data_dir, JORDAN, "Zarqa night shelter", ("JO", "Zarqa", 32.07, 36.09),
                           ("shelter.emergency",))
    nepali = create_service(base, data_dir, NEPAL, "Terai night shelter",
                            ("NP", "Biratnagar", 26.45, 87.27))
    owner = enrol(base, data_dir, JORDAN, "Rania Haddad")
    with closing(signed_in_client(base, owner)) as rania:
        kept = rania.get("/offline/directory.json", params={"lang": "fr"})
        shell = rania.get("/offline/search")
    assert kept.status_code == 200 and kept.headers["cache-control"] == "no-store"
    assert kept.headers["date"]  # the worker fetches the directory again when it is an hour old
    directory = kept.json()
    assert directory["country"] == "JO"
    assert directory["notice"].startswith("Hors ligne : résultats du répertoire de Jordanie")
    services = {service["id"]: service for service in directory["services"]}
    assert {night["id"], hidden_shelter["id"]} <= set(services) and nepali["id"] not in services
    assert services[night["id"]]["categories"] == ["shelter.emergency", "shelter"]
    assert services[night["id"]]["facts"][0] == "Zarqa, Jordanie"
    assert "zarqa night shelter safe accommodation" in services[night["id"]]["words"]
    # Her own confidential place is kept by its city only, as anyone else would read it.
    assert "31.98765" not in kept.text and "35.87654" not in kept.text
    assert shell.status_code == 200 and 'data-directory="/offline/directory.json"' in shell.text
    assert '<template id="offline-card">' in shell.text and 'id="category"' in shell.text
    signed_out = httpx.get(f"{base}/offline/directory.json")
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/sign-in")
