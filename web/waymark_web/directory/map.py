"""The results on a map drawn on the server as SVG: coarse country outlines shipped with the
app (no tile server, no script), one marker per service, confidential places at city level."""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waymark_web.context import Visit
from waymark_web.directory.service import Coordinates, Places

# Drawn by hand from approximate coordinates: the programme countries and some neighbours.
OUTLINES = json.loads((Path(__file__).parent / "outlines.json").read_text())
WIDTH = 800
MARGIN_DEGREES = 1.0
SMALLEST_SPAN_DEGREES = 3.0
CITY_DECIMALS = 1  # 0.1°, about 11 km: as near as a confidential place is drawn


@dataclass
class Marker:
    service_id: str
    name: str
    latitude: float
    longitude: float
    city_level: bool
    x: float = 0.0
    y: float = 0.0


@dataclass
class Outline:
    country: str
    programme: bool
    path: str


@dataclass
class Map:
    width: int
    height: int
    markers: list[Marker]
    outlines: list[Outline]


async def marker_of(visit: Visit, places: Places, service: dict[str, Any]) -> Marker | None:
    """Where the service is drawn: its first located place; a confidential one at its city
    (rounded, or the city of the directory when the API keeps its coordinates back)."""
    for location in service["locations"]:
        place: Coordinates | None = None
        if location["latitude"] is not None:
            place = (location["latitude"], location["longitude"])
        elif location["confidential"] and location["city"]:
            place = await places.find(visit, f'{location["city"]}, {location["country"]}', {})
        if place is None:
            continue
        if location["confidential"]:
            place = (round(place[0], CITY_DECIMALS), round(place[1], CITY_DECIMALS))
        return Marker(str(service["id"]), service["name"], place[0], place[1],
                      city_level=location["confidential"])
    return None


Projection = Callable[[float, float], tuple[float, float]]


def _path(ring: list[list[float]], project: Projection) -> str:
    points = [project(latitude, longitude) for longitude, latitude in ring]
    return "M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in points) + "Z"


def _overlaps(ring: list[list[float]], west: float, east: float, south: float,
              north: float) -> bool:
    longitudes = [point[0] for point in ring]
    latitudes = [point[1] for point in ring]
    return (min(longitudes) <= east and max(longitudes) >= west
            and min(latitudes) <= north and max(latitudes) >= south)


def draw(markers: list[Marker]) -> Map:
    """An equirectangular view around the markers (scaled for their latitude), with the
    outlines it crosses."""
    latitudes = [marker.latitude for marker in markers]
    longitudes = [marker.longitude for marker in markers]
    middle = ((min(latitudes) + max(latitudes)) / 2, (min(longitudes) + max(longitudes)) / 2)
    half_height = max((max(latitudes) - min(latitudes)) / 2 + MARGIN_DEGREES,
                      SMALLEST_SPAN_DEGREES / 2)
    half_width = max((max(longitudes) - min(longitudes)) / 2 + MARGIN_DEGREES,
                     SMALLEST_SPAN_DEGREES / 2)
    squeeze = max(math.cos(math.radians(middle[0])), 0.2)
    # Neither a ribbon nor a tower: between 5:2 and 4:3 on the page.
    half_width = max(half_width, half_height * 0.75 / squeeze)
    half_height = max(half_height, half_width * squeeze * 0.4)
    west, east = middle[1] - half_width, middle[1] + half_width
    south, north = middle[0] - half_height, middle[0] + half_height
    scale = WIDTH / (2 * half_width * squeeze)
    height = round(2 * half_height * scale)

    def project(latitude: float, longitude: float) -> tuple[float, float]:
        return (longitude - west) * squeeze * scale, (north - latitude) * scale

    for marker in markers:
        marker.x, marker.y = project(marker.latitude, marker.longitude)
    outlines = [
        Outline(country, group == "programme", " ".join(
            _path(ring, project) for ring in rings if _overlaps(ring, west, east, south, north)))
        for group in ("neighbours", "programme")
        for country, rings in OUTLINES[group].items()
        if any(_overlaps(ring, west, east, south, north) for ring in rings)
    ]
    return Map(WIDTH, height, markers, outlines)


async def results_map(visit: Visit, places: Places, results: list[dict[str, Any]]) -> Map | None:
    """None when no result has a place to draw."""
    markers = [marker for service in results
               if (marker := await marker_of(visit, places, service)) is not None]
    return draw(markers) if markers else None
