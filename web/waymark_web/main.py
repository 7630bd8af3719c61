"""The caseworker web app: server-rendered pages over the public API, in the caseworker's
language. `create_app` is the one place it is wired."""

import logging

import httpx

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp
from waymark_kernel.settings import Settings
from waymark_kernel.web import SafeResponseHeaders

from waymark_web.account.router import router as account_router
from waymark_web.admin.router import router as admin_router
from waymark_web.api import ApiError, api_client
from waymark_web.cases.router import router as cases_router
from waymark_web.context import FormRefused, NotFound, SignInRequired, here, visitor
from waymark_web.directory.router import router as directory_router
from waymark_web.directory.service import Places
from waymark_web.home.router import router as home_router
from waymark_web.i18n import Languages
from waymark_web.i18n.middleware import LanguageMiddleware
from waymark_web.offline.router import router as offline_router
from waymark_web.pages import Pages
from waymark_web.referrals.router import router as referrals_router
from waymark_web.security import PAGE_HEADERS
from waymark_web.settings.router import router as settings_router
from waymark_web.static import StaticFiles

log = logging.getLogger("waymark.web")


def create_app(settings: Settings, api: ASGIApp | str) -> FastAPI:
    """`api`: the gateway app in this process, or the gateway's address."""
    languages = Languages()
    static = StaticFiles()
    app = FastAPI(
        openapi_url=None, docs_url=None, redoc_url=None,
        middleware=[
            Middleware(SafeResponseHeaders, headers=PAGE_HEADERS),
            Middleware(GZipMiddleware, minimum_size=1000),
            Middleware(LanguageMiddleware, languages=languages),
        ],
    )
    app.state.settings = settings
    app.state.api_client = api_client(api)
    app.state.pages = Pages(languages, static)
    app.state.static = static
    app.state.places = Places()

    @app.get("/static/{name}", include_in_schema=False)
    async def static_file(request: Request, name: str) -> Response:
        return static.response(request, name) or await _not_found(request)

    for router in (
        account_router, home_router, directory_router, cases_router, referrals_router,
        settings_router, admin_router, offline_router,
    ):
        app.include_router(router)
    _install_error_pages(app)
    return app


async def _not_found(request: Request) -> Response:
    visit = await visitor(request)
    return visit.render("layout/not_found.html", status=404)


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, _: SignInRequired) -> Response:
        return RedirectResponse(f"/sign-in?next={here(request)}", status_code=303)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, _: Exception) -> Response:
        return await _not_found(request)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if error.status_code == 404:
            return await _not_found(request)
        visit = await visitor(request)
        return visit.render("layout/error.html", status=error.status_code, problem=None)

    @app.exception_handler(RequestValidationError)
    async def bad_address(request: Request, _: RequestValidationError) -> Response:
        return await _not_found(request)  # a malformed id in a URL names nothing

    @app.exception_handler(FormRefused)
    async def form_refused(request: Request, _: FormRefused) -> Response:
        visit = await visitor(request)
        return visit.render("layout/error.html", status=403, problem="form")

    @app.exception_handler(httpx.HTTPError)
    async def api_unreachable(request: Request, _: httpx.HTTPError) -> Response:
        log.warning("a page could not reach the API")
        visit = await visitor(request)
        return visit.render("layout/error.html", status=503, problem="api")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        if error.status == 401:
            return RedirectResponse(f"/sign-in?next={here(request)}", status_code=303)
        if error.status == 404:
            return await _not_found(request)
        visit = await visitor(request)
        if error.status >= 500:
            log.warning("the API answered %s to a page", error.status)
        problem = "gone" if error.status == 410 else "api"
        return visit.render("layout/error.html", status=min(error.status, 503), problem=problem)
