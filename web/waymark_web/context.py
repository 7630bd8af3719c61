"""Who is visiting, in which language, and the API as her: what every page's handler gets."""

from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse

from waymark_web import security
from waymark_web.api import Api, ApiError
from waymark_web.i18n import Language
from waymark_web.pages import Pages

MAX_FORM_FIELDS = 200


class SignInRequired(Exception):
    """Answered with a redirect to the sign-in page, coming back here afterwards."""


class FormRefused(Exception):
    """A form without its session's token: forged or stale. Nothing was changed."""


class NotFound(Exception):
    """The same page for a missing object and one this person may not see."""


@dataclass
class Visit:
    request: Request
    language: Language
    api: Api
    pages: Pages
    session: dict[str, Any] | None = field(default=None)
    unread_count: int | None = field(default=None)  # the organisation's inbox, in the menu

    @property
    def person(self) -> dict[str, Any]:
        return (self.session or {}).get("person") or {}

    @property
    def organization_id(self) -> str | None:
        return self.person.get("organization_id")

    @property
    def roles(self) -> list[str]:
        return list(self.person.get("roles") or [])

    def render(
        self, template: str, status: int = 200, headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        form_token = security.masked(self.session["csrf_token"]) if self.session else ""
        return self.pages.render(self.language, template, {
            "visit": self, "person": self.person, "form_token": form_token,
            "path": self.request.url.path, **context,
        }, status=status, headers=headers)


def here(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return quote(request.url.path + query, safe="/?=&")


async def visitor(request: Request) -> Visit:
    api = Api(request.app.state.api_client, request, request.state.language.code)
    return Visit(request, request.state.language, api, request.app.state.pages)


async def signed_in(visit: Annotated[Visit, Depends(visitor)]) -> Visit:
    if not visit.api.headers.keys() & {"cookie", "authorization"}:
        raise SignInRequired()
    try:
        visit.session = await visit.api.get("/v1/auth/session")
    except ApiError as error:
        if error.status in (401, 403, 404):
            raise SignInRequired() from error
        raise
    visit.api.csrf_token = visit.session.get("csrf_token")
    if visit.request.method == "GET":
        visit.unread_count = await unread_count(visit)
    return visit


async def unread_count(visit: Visit) -> int | None:
    """One small call per page; a page still opens when the inbox cannot be reached."""
    try:
        return (await visit.api.get("/v1/inbox", {"unread": "true", "limit": 1}))["unread_count"]
    except (ApiError, httpx.HTTPError):
        return None


def _checked(visit: Visit, form: FormData) -> FormData:
    token = (visit.session or {}).get("csrf_token") or ""
    if not token or not security.matches(str(form.get("csrf_token", "")), token):
        raise FormRefused()
    return form


async def checked_form(visit: Annotated[Visit, Depends(signed_in)]) -> FormData:
    """The posted form, once its token proved it came from a page of this session."""
    return _checked(visit, await visit.request.form(max_files=0, max_fields=MAX_FORM_FIELDS))


async def checked_upload(visit: Annotated[Visit, Depends(signed_in)]) -> FormData:
    """A posted form with one file (the gateway bounds its size), checked as `checked_form`."""
    return _checked(visit, await visit.request.form(max_files=1, max_fields=MAX_FORM_FIELDS))


Anyone = Annotated[Visit, Depends(visitor)]
SignedIn = Annotated[Visit, Depends(signed_in)]
CheckedForm = Annotated[FormData, Depends(checked_form)]
CheckedUpload = Annotated[FormData, Depends(checked_upload)]
