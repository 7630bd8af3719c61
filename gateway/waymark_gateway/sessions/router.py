import asyncio
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from waymark_gateway.audit import service as audit
from waymark_gateway.identity.schemas import TokenResponse
from waymark_gateway.identity.service import NO_STORE
from waymark_gateway.people import service as people
from waymark_gateway.people.router import AccountsDep, address_of
from waymark_gateway.proxy.ratelimit import PERSON_SIGN_INS, RateLimited, RateLimits
from waymark_gateway.sessions.authentication import Caller, CurrentCaller
from waymark_gateway.sessions.providers import FLOW_SECONDS, FlowRefused, RelyingParty
from waymark_gateway.sessions.schemas import ProviderRead, SessionRead, SessionStarted, SignIn
from waymark_gateway.sessions.service import (
    ActiveSession,
    SessionEnded,
    Sessions,
    cookie_name,
    flow_cookie_name,
)
from waymark_kernel.auth import Identity
from waymark_kernel.db import SessionDep
from waymark_kernel.problems import NotFound, Problem

router = APIRouter(tags=["sessions"])
PUBLIC: dict[str, Any] = {"security": []}


def _sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


SessionsDep = Annotated[Sessions, Depends(_sessions)]


def _write_cookie(
    request: Request, response: Response, name_for: Callable[[bool], str], value: str | None,
    max_age: int | None = None,
) -> None:
    """Sets (or, for None, deletes) a cookie named for the scheme the caller reached us by."""
    https = request.app.state.request_authenticator.addresses.is_https(request.scope)
    options: dict[str, Any] = {"path": "/", "secure": https, "httponly": True, "samesite": "lax"}
    if value is None:
        response.delete_cookie(name_for(https), **options)
    else:
        response.set_cookie(name_for(https), value, max_age=max_age, **options)


def _session_of(caller: Caller) -> ActiveSession:
    if caller.session is None:
        raise Problem(400, "This needs a signed-in person's session cookie, not a bearer token.",
                      kind="session-required")
    return caller.session


@router.post(
    "/v1/auth/sessions", status_code=201, openapi_extra=PUBLIC,
    summary="Sign a person in: email, password and a TOTP or recovery code; sets the session cookie",
)
async def sign_in(
    data: SignIn, request: Request, response: Response, session: SessionDep,
    accounts: AccountsDep, sessions: SessionsDep,
) -> SessionStarted:
    limits: RateLimits = request.app.state.rate_limits
    address = address_of(request)
    fingerprint = accounts.box.fingerprint(data.email)
    try:
        await limits.check_failures(PERSON_SIGN_INS, fingerprint, address)
    except RateLimited:
        if await limits.may_audit_refusal(PERSON_SIGN_INS, fingerprint, address):
            await people.record_locked_attempt(
                session, request.app.state.database, accounts, data.email, address)
        raise
    # Unknown emails count and wait alike, so the delay tells nothing about who has an account.
    await asyncio.sleep(await limits.delay_for(PERSON_SIGN_INS, fingerprint, address))
    try:
        verified = await people.verify_sign_in(
            session, request.app.state.database, accounts, data.email, data.password, data.code,
            address,
        )
    except people.SignInRefused:
        await limits.count_failure(PERSON_SIGN_INS, fingerprint, address)
        raise
    await session.commit()  # the sign-in is stored before its session starts (apart, on SQLite)
    previous = request.app.state.request_authenticator.session_id(request.scope)
    session_id, record = await sessions.start(verified.person, verified.amr, previous)
    # No Max-Age: the browser forgets it when closed; the server ends it after idle or max time.
    _write_cookie(request, response, cookie_name, session_id)
    response.headers.update(NO_STORE)
    return SessionStarted(
        person=accounts.present(verified.person), csrf_token=record.csrf_token,
        recovery_codes=verified.recovery_codes,
    )


@router.get(
    "/v1/auth/session", summary="The signed-in person and the session's CSRF token",
)
async def current_session(
    caller: CurrentCaller, response: Response, session: SessionDep, accounts: AccountsDep,
) -> SessionRead:
    record = _session_of(caller).record
    person = await people.signed_in_person(session, accounts, record.person_id)
    if person is None:
        raise SessionEnded()
    response.headers.update(NO_STORE)
    return SessionRead(person=person, csrf_token=record.csrf_token)


@router.delete("/v1/auth/session", status_code=204, summary="Sign out")
async def sign_out(
    caller: CurrentCaller, request: Request, session: SessionDep, sessions: SessionsDep,
) -> Response:
    _session_of(caller)
    await sessions.end(request.app.state.request_authenticator.session_id(request.scope))
    await audit.record(session, _event(caller.identity, "sign_out", request))
    response = Response(status_code=204)
    _write_cookie(request, response, cookie_name, None)
    return response


@router.delete("/v1/auth/sessions", status_code=204, summary="Sign out everywhere")
async def sign_out_everywhere(
    caller: CurrentCaller, request: Request, session: SessionDep, sessions: SessionsDep,
) -> Response:
    _session_of(caller)
    await sessions.end_everywhere(uuid.UUID(caller.identity.subject))
    await audit.record(session, _event(caller.identity, "sign_out_everywhere", request))
    response = Response(status_code=204)
    _write_cookie(request, response, cookie_name, None)
    return response


@router.post(
    "/v1/auth/session/token", summary="A short-lived bearer token for the signed-in person, for API use",
)
async def person_token(
    caller: CurrentCaller, response: Response, sessions: SessionsDep,
) -> TokenResponse:
    active = _session_of(caller)
    response.headers.update(NO_STORE)
    return await sessions.bearer_token(active)


def _relying_party(request: Request, name: str) -> RelyingParty:
    party: RelyingParty | None = request.app.state.relying_parties.get(name)
    if party is None:
        raise NotFound("sign-in provider")
    return party


@router.get(
    "/v1/auth/providers", openapi_extra=PUBLIC,
    summary="The OpenID Connect providers people may sign in through",
)
async def list_providers(request: Request) -> list[ProviderRead]:
    return [
        ProviderRead(name=name, organization_id=party.provider.organization_id,
                     start_url=f"/v1/auth/providers/{name}/start")
        for name, party in request.app.state.relying_parties.items()
    ]


@router.get(
    "/v1/auth/providers/{name}/start", status_code=303, openapi_extra=PUBLIC,
    response_class=RedirectResponse,
    summary="Start signing in through a provider (authorization code flow with PKCE)",
)
async def start_external_sign_in(
    name: Annotated[str, Path(max_length=64)], request: Request,
    invitation: Annotated[str | None, Query(max_length=128)] = None,
    return_to: Annotated[str | None, Query(max_length=2048)] = None,
) -> RedirectResponse:
    url, sealed = await _relying_party(request, name).start(invitation, return_to)
    response = RedirectResponse(url, status_code=303, headers=NO_STORE)
    _write_cookie(request, response, flow_cookie_name, sealed, max_age=FLOW_SECONDS)
    return response


@router.get(
    "/v1/auth/providers/{name}/callback", status_code=303, openapi_extra=PUBLIC,
    response_class=RedirectResponse,
    summary="Where the provider sends the browser back: signs the person in",
)
async def finish_external_sign_in(
    name: Annotated[str, Path(max_length=64)], request: Request, session: SessionDep,
    accounts: AccountsDep, sessions: SessionsDep,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=256)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> RedirectResponse:
    party = _relying_party(request, name)
    https = request.app.state.request_authenticator.addresses.is_https(request.scope)
    flow = party.open_flow(request.cookies.get(flow_cookie_name(https)), state)
    if error or not code:
        raise FlowRefused("The sign-in provider did not sign you in.")
    claims = await party.finish(flow, code)
    verified = await people.external_sign_in(
        session, request.app.state.database, accounts, name, party.provider, claims,
        flow.invitation, address_of(request),
    )
    await session.commit()
    previous = request.app.state.request_authenticator.session_id(request.scope)
    session_id, _ = await sessions.start(verified.person, verified.amr, previous)
    response = RedirectResponse(flow.return_to, status_code=303, headers=NO_STORE)
    _write_cookie(request, response, flow_cookie_name, None)
    _write_cookie(request, response, cookie_name, session_id)
    return response


def _event(identity: Identity, action: str, request: Request) -> audit.Event:
    return audit.Event(
        identity.organization_id, identity.subject, action, identity.subject, address_of(request),
    )
