"""The directory: search services by words, category, place and the people they serve."""

import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from babel import Locale
from fastapi import APIRouter, Query
from starlette.responses import Response

from waymark_web.context import SignedIn, Visit
from waymark_web.directory.map import results_map
from waymark_web.directory.service import Coordinates, Places, plain

router = APIRouter()
COORDINATES = re.compile(r"\s*(-?\d{1,2}(?:\.\d+)?)\s*[,;\s]\s*(-?\d{1,3}(?:\.\d+)?)\s*")
PROGRAMME_LANGUAGES = ("en", "fr", "es", "ar", "ru", "am", "id", "th", "ne", "kk", "tg", "sn")
RADII_KM = (5, 10, 25, 50, 100, 250)
Text = Annotated[str, Query(max_length=200)]


@dataclass
class SearchForm:
    q: str = ""
    category: str = ""
    country: str = ""
    language: str = ""
    population: str = ""
    migration_stage: str = ""
    accepts_referrals: bool = False
    near: str = ""
    radius_km: int = 25

    def api_parameters(self, place: Coordinates | None) -> dict[str, Any]:
        """The API's query; `place`: where `near` is, when it names one."""
        parameters: dict[str, Any] = {"limit": 30}
        for name in ("q", "category", "country", "language", "population", "migration_stage"):
            if value := getattr(self, name).strip():
                parameters[name] = value
        if self.accepts_referrals:
            parameters["accepts_referrals"] = "true"
        if place is not None:
            parameters.update(lat=place[0], lon=place[1], radius_km=self.radius_km)
        return parameters


def country_codes(visit: Visit, codes: list[str]) -> dict[str, str]:
    """Each country's code by its plain name, in the visitor's language and in English."""
    names: dict[str, str] = {}
    for locale in (Locale.parse("en"), Locale.parse(visit.language.code)):
        for code in codes:
            names[plain(locale.territories.get(code, code))] = code
    return names


async def place_of(visit: Visit, near: str, country: str,
                   countries: list[dict[str, Any]]) -> Coordinates | None:
    """`near` as latitude and longitude, or as a city of the directory."""
    if coordinates := COORDINATES.fullmatch(near):
        return float(coordinates[1]), float(coordinates[2])
    places: Places = visit.request.app.state.places
    codes = country_codes(visit, [item["code"] for item in countries])
    return await places.find(visit, near, codes, preferred_country=country)


def address_with_view(visit: Visit, view: str) -> str:
    """This search again, as a list or on the map."""
    address = visit.request.url.include_query_params(view=view)
    return f"{address.path}?{address.query}"


async def taxonomy(visit: Visit) -> list[dict[str, Any]]:
    terms: list[dict[str, Any]] = (await visit.api.get("/v1/taxonomy"))["items"]
    return terms


async def countries(visit: Visit) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = (await visit.api.get("/v1/countries"))["items"]
    return listed


@router.get("/services")
async def search(
    visit: SignedIn, q: Text = "", category: Text = "", country: Text = "", language: Text = "",
    population: Text = "", migration_stage: Text = "", accepts_referrals: bool = False,
    near: Text = "", radius_km: Annotated[int, Query(ge=1, le=1000)] = 25,
    for_case: uuid.UUID | None = None, for_referral: uuid.UUID | None = None,
    view: Literal["list", "map"] = "list",
) -> Response:
    form = SearchForm(q, category, country, language, population, migration_stage,
                      accepts_referrals, near, radius_km)
    programme_countries = await countries(visit)
    place = await place_of(visit, near, country, programme_countries) if near.strip() else None
    parameters = form.api_parameters(place)
    near_understood = not near.strip() or place is not None
    searched = any(key != "limit" for key in parameters) and near_understood
    results = (await visit.api.get("/v1/services", parameters))["items"] if searched else []
    places: Places = visit.request.app.state.places
    drawn = await results_map(visit, places, results) if view == "map" and results else None
    return visit.render(
        "directory/search.html", form=form, results=results, searched=searched, view=view,
        map=drawn, list_address=address_with_view(visit, "list"),
        map_address=address_with_view(visit, "map"),
        near_understood=near_understood, categories=await taxonomy(visit),
        countries=programme_countries, programme_languages=PROGRAMME_LANGUAGES,
        radii=RADII_KM, for_case=for_case, for_referral=for_referral,
    )


@router.get("/services/{service_id}")
async def service_page(
    visit: SignedIn, service_id: uuid.UUID, for_case: uuid.UUID | None = None,
    for_referral: uuid.UUID | None = None,
) -> Response:
    service = await visit.api.get(f"/v1/services/{service_id}")
    names = {item["code"]: item["name"] for item in await taxonomy(visit)}
    return visit.render("directory/service.html", service=service, category_names=names,
                        for_case=for_case, for_referral=for_referral)
