"""The directory: search services by words, category, place and the people they serve."""

import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from waymark_web.context import SignedIn, Visit

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

    def api_parameters(self) -> tuple[dict[str, Any], bool]:
        """The API's query, and whether `near` was understood."""
        parameters: dict[str, Any] = {"limit": 30}
        for name in ("q", "category", "country", "language", "population", "migration_stage"):
            if value := getattr(self, name).strip():
                parameters[name] = value
        if self.accepts_referrals:
            parameters["accepts_referrals"] = "true"
        if not self.near.strip():
            return parameters, True
        place = COORDINATES.fullmatch(self.near)
        if place is None:
            return parameters, False
        parameters.update(lat=place[1], lon=place[2], radius_km=self.radius_km)
        return parameters, True


async def taxonomy(visit: Visit) -> list[dict[str, Any]]:
    return (await visit.api.get("/v1/taxonomy"))["items"]


async def countries(visit: Visit) -> list[dict[str, Any]]:
    return (await visit.api.get("/v1/countries"))["items"]


@router.get("/services")
async def search(
    visit: SignedIn, q: Text = "", category: Text = "", country: Text = "", language: Text = "",
    population: Text = "", migration_stage: Text = "", accepts_referrals: bool = False,
    near: Text = "", radius_km: Annotated[int, Query(ge=1, le=1000)] = 25,
    for_case: uuid.UUID | None = None, for_referral: uuid.UUID | None = None,
) -> Response:
    form = SearchForm(q, category, country, language, population, migration_stage,
                      accepts_referrals, near, radius_km)
    parameters, near_understood = form.api_parameters()
    searched = any(key != "limit" for key in parameters)
    results = (await visit.api.get("/v1/services", parameters))["items"] if searched else []
    return visit.render(
        "directory/search.html", form=form, results=results, searched=searched,
        near_understood=near_understood, categories=await taxonomy(visit),
        countries=await countries(visit), programme_languages=PROGRAMME_LANGUAGES,
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
