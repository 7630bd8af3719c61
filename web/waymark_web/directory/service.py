"""Places by name for "near": the cities of the directory's own service locations (no
geocoder, no outside data), gathered through the API and kept for a few minutes."""

import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from waymark_web.context import Visit

REFRESH_SECONDS = 600
PAGES_READ = 20  # at 100 services a page: the directory's cities, not every service
Coordinates = tuple[float, float]


def plain(text: str) -> str:
    """A name as typed by anyone: no accents, no case, single spaces ("Ammán" is "amman")."""
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(letters.casefold().split())


@dataclass
class Places:
    """Each (city, country) of a located, public service location, at the mean of its
    locations. Confidential locations are left out: they are not a place to be found."""

    cities: dict[tuple[str, str], Coordinates] = field(default_factory=dict)
    read_at: float = float("-inf")

    async def refresh(self, visit: Visit) -> None:
        found: dict[tuple[str, str], list[Coordinates]] = defaultdict(list)
        parameters: dict[str, Any] = {"limit": 100}
        for _ in range(PAGES_READ):
            page = await visit.api.get("/v1/services", parameters)
            for service in page["items"]:
                for location in service["locations"]:
                    if location["city"] and location["latitude"] is not None \
                            and not location["confidential"]:
                        found[(plain(location["city"]), location["country"].upper())].append(
                            (location["latitude"], location["longitude"]))
            if not page.get("next_cursor"):
                break
            parameters["cursor"] = page["next_cursor"]
        self.cities = {
            place: (sum(lat for lat, _ in points) / len(points),
                    sum(lon for _, lon in points) / len(points))
            for place, points in found.items()
        }
        self.read_at = time.monotonic()

    async def find(self, visit: Visit, name: str, country_names: dict[str, str],
                   preferred_country: str = "") -> Coordinates | None:
        """`name`: a city, or a city and its country ("Amman, JO", "Amman, Jordan");
        `country_names`: code by plain name, in the visitor's language and in English."""
        if time.monotonic() - self.read_at > REFRESH_SECONDS:
            await self.refresh(visit)
        city, _, country = (plain(part) for part in name.partition(","))
        country_code = country_names.get(country, country.upper())
        candidates = [place for place in self.cities if place[0] == city
                      and (not country or place[1] == country_code)]
        if not candidates:
            return None
        candidates.sort(key=lambda place: place[1] != preferred_country.upper())
        return self.cities[candidates[0]]
