"""The directory search over HTTP against the real network with its demo data: "near" a city
of the directory (or coordinates), and a place it does not know said plainly on the page."""

import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import Network
from web.tests.support import enrol, signed_in_client

NEPAL = "Nepal Red Cross Society"


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
