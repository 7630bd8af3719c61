"""Signing in and out (the API sets and clears the session cookie; the page hands it on), and
accepting an invitation: a password, then the authenticator and recovery codes, shown once."""

import base64
import secrets
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Form, Path
from starlette.responses import RedirectResponse, Response

from waymark_web import security
from waymark_web.api import ApiError
from waymark_web.context import Anyone, CheckedForm, SignedIn, Visit

router = APIRouter()
Field = Annotated[str, Form(max_length=4096)]
# Before there is a session, the sign-in form is tied to its browser by a cookie that a page
# of another site can neither read nor send with its own form (double submit).
SIGN_IN_COOKIE = "waymark_sign_in"


def safe_next(target: str | None) -> str:
    """Only a path of this site: never another origin (`//host`, `/\\host`, `https:`)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def with_cookies(response: Response, api_headers: list[tuple[str, str]]) -> Response:
    for name, value in api_headers:
        if name.lower() == "set-cookie":
            response.headers.append("set-cookie", value)
    return response


async def sign_in_providers(visit: Visit) -> list[dict[str, Any]]:
    """The National Societies' own identity providers; the form works without them."""
    try:
        providers: list[dict[str, Any]] = await visit.api.get("/v1/auth/providers")
        return providers
    except (ApiError, httpx.HTTPError):
        return []


def sign_in_secret(visit: Visit) -> str | None:
    return visit.request.cookies.get(SIGN_IN_COOKIE) or None


async def sign_in_form(visit: Visit, next: str, *, signed_out: bool = False,
                       error: str | None = None, email: str = "", status: int = 200) -> Response:
    secret = sign_in_secret(visit) or secrets.token_urlsafe(32)
    response = visit.render(
        "account/sign_in.html", status=status, next=safe_next(next), signed_out=signed_out,
        error=error, email=email, providers=await sign_in_providers(visit),
        form_token=security.masked(secret),
    )
    if secret != sign_in_secret(visit):
        response.set_cookie(SIGN_IN_COOKIE, secret, path="/sign-in", httponly=True,
                            samesite="strict", secure=visit.request.url.scheme == "https")
    return response


@router.get("/sign-in")
async def sign_in_page(visit: Anyone, next: str = "/", signed_out: bool = False) -> Response:
    return await sign_in_form(visit, next, signed_out=signed_out)


@router.post("/sign-in")
async def sign_in(
    visit: Anyone, email: Field, password: Field, code: Annotated[str, Form(max_length=64)] = "",
    next: Field = "/", csrf_token: Field = "",
) -> Response:
    secret = sign_in_secret(visit)
    if not secret or not security.matches(csrf_token, secret):
        return await sign_in_form(visit, next, error="forged", email=email, status=403)
    try:
        credentials = {"email": email.strip(), "password": password}
        if code.strip():
            credentials["code"] = code.strip()
        response = await visit.api.call("POST", "/v1/auth/sessions", json=credentials)
    except ApiError as error:
        reason = "busy" if error.status == 429 else "refused" if error.status < 500 else "down"
        return await sign_in_form(visit, next, error=reason, email=email,
                                  status=error.status if error.status < 500 else 503)
    redirect = RedirectResponse(safe_next(next), status_code=303)
    return with_cookies(redirect, response.headers.multi_items())


@router.post("/sign-out")
async def sign_out(visit: SignedIn, _: CheckedForm) -> Response:
    response = await visit.api.call("DELETE", "/v1/auth/session")
    redirect = RedirectResponse("/sign-in?signed_out=true", status_code=303)
    # What the browser kept for this site goes with the session (shared devices).
    redirect.headers["clear-site-data"] = '"cache", "storage"'
    return with_cookies(redirect, response.headers.multi_items())


def invitation_path(token: str) -> str:
    return f"/v1/invitations/{quote(token, safe='')}"


@router.get("/invitations/{token}")
async def invitation_page(visit: Anyone, token: Annotated[str, Path(max_length=256)]) -> Response:
    invitation = await visit.api.get(invitation_path(token))
    return visit.render("account/invitation.html", invitation=invitation, token=token, error=None,
                        name="")


@router.post("/invitations/{token}")
async def accept_invitation(
    visit: Anyone, token: Annotated[str, Path(max_length=256)], name: Field, password: Field,
    password_again: Field,
) -> Response:
    invitation = await visit.api.get(invitation_path(token))
    if password != password_again:
        return visit.render("account/invitation.html", status=422, invitation=invitation,
                            token=token, error="different", name=name)
    try:
        enrolled = await visit.api.send("POST", invitation_path(token),
                                        {"name": name.strip(), "password": password})
    except ApiError as error:
        if error.status != 422:
            raise
        return visit.render("account/invitation.html", status=422, invitation=invitation,
                            token=token, error=error.detail, name=name)
    totp = enrolled.get("totp")
    qr_code = None
    if totp and totp.get("qr_svg"):
        qr_code = "data:image/svg+xml;base64," + base64.b64encode(totp["qr_svg"].encode()).decode()
    return visit.render("account/enrolled.html", status=201, enrolled=enrolled, qr_code=qr_code)
