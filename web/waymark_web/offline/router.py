"""The installable app: its manifest, its service worker (served at the root, so that its scope
is the whole app), the page it shows when there is no connection, and what it keeps to search
the directory offline: her country's directory and the search page that reads it."""

import hashlib
import json
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from waymark_web.context import Anyone, SignedIn
from waymark_web.directory.router import (
    PROGRAMME_LANGUAGES, RADII_KM, SearchForm, countries, taxonomy,
)
from waymark_web.offline.service import own_country_directory
from waymark_web.static import StaticFiles

router = APIRouter()
WORKER_SOURCE = (Path(__file__).parent / "sw.js").read_text()
OFFLINE_PAGE = "/offline"
OFFLINE_SEARCH = "/offline/search"
OWN_DIRECTORY = "/offline/directory.json"
THEME_COLOUR = "#b3141c"
BACKGROUND_COLOUR = "#ffffff"
# The browser asks for a new worker on each visit; the static files it names are hashed.
REVALIDATE = "no-cache"


def service_worker(static: StaticFiles) -> str:
    """The worker's source with the app shell it keeps; its cache is named after that shell,
    so a new version of the CSS or script replaces the old cache."""
    shell = [static.url("app.css"), static.url("app.js"), OFFLINE_PAGE]
    version = hashlib.sha256(json.dumps(shell).encode()).hexdigest()[:16]
    return (WORKER_SOURCE.replace("__SHELL__", json.dumps(shell))
            .replace("__VERSION__", json.dumps(version))
            .replace("__OFFLINE_SEARCH__", json.dumps(OFFLINE_SEARCH))
            .replace("__OWN_DIRECTORY__", json.dumps(OWN_DIRECTORY)))


def manifest(static: StaticFiles) -> dict[str, object]:
    return {
        "name": "Waymark", "short_name": "Waymark", "id": "/", "start_url": "/", "scope": "/",
        "display": "standalone", "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "icons": [
            {"src": static.url("icon.svg"), "sizes": "any", "type": "image/svg+xml"},
            {"src": static.url("icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static.url("icon-512.png"), "sizes": "512x512", "type": "image/png"},
        ],
    }


@router.get("/sw.js")
async def worker(request: Request) -> Response:
    return Response(service_worker(request.app.state.static),
                    media_type="text/javascript; charset=utf-8",
                    headers={"cache-control": REVALIDATE})


@router.get("/manifest.webmanifest")
async def web_manifest(request: Request) -> Response:
    return JSONResponse(manifest(request.app.state.static), media_type="application/manifest+json",
                        headers={"cache-control": REVALIDATE})


@router.get("/offline")
async def offline_page(visit: Anyone) -> Response:
    # Rendered for nobody in particular: the worker keeps it, so it names no one.
    return visit.render("offline/offline.html")


@router.get(OWN_DIRECTORY)
async def own_directory(visit: SignedIn) -> Response:
    """The directory of her organisation's country, which the worker keeps for offline use."""
    return JSONResponse(await own_country_directory(visit))


@router.get(OFFLINE_SEARCH)
async def offline_search(visit: SignedIn) -> Response:
    """The search page the worker answers with offline: the app's script finds the results
    in the kept directory."""
    return visit.render(
        "offline/search.html", form=SearchForm(), for_case=None, for_referral=None,
        categories=await taxonomy(visit), countries=await countries(visit),
        programme_languages=PROGRAMME_LANGUAGES, radii=RADII_KM, directory=OWN_DIRECTORY,
    )
