import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from waymark_gateway.audit import service as audit
from waymark_gateway.identity.schemas import TokenResponse
from waymark_gateway.identity.service import NO_STORE
from waymark_gateway.people import service as people
from waymark_gateway.people.router import AccountsDep, address_of
from waymark_gateway.sessions.authentication import CurrentCaller
from waymark_gateway.sessions.schemas import SessionRead, SessionStarted, SignIn
from waymark_gateway.sessions.service import SessionEnded, Sessions, SignInThrottle, cookie_name
from waymark_kernel.auth import Identity
from waymark_kernel.db import SessionDep
from waymark_kernel.problems import Problem

router = APIRouter(tags=["sessions"])
PUBLIC = {"security": []}


def _sessions(request: Request) -> Sessions:
    return request.app.state.sessions


SessionsDep = Annotated[Sessions, Depends(_sessions)]


def _set_cookie(request: Request, response: Response, session_id: str | None) -> None:
    authenticator = request.app.state.request_authenticator
    https = authenticator.addresses.is_https(request.scope)
    name = cookie_name(https)
    if session_id is None:
        response.delete_cookie(name, path="/", secure=https, httponly=True, samesite="lax")
        return
    # No Max-Age: the browser forgets it when closed; the server ends it after idle or max time.
    response.set_cookie(name, session_id, path="/", secure=https, httponly=True, samesite="lax")


def _signed_in(caller_session: object) -> None:
    if caller_session is None:
        raise Problem(400, "This needs a signed-in person's session cookie, not a bearer token.",
                      kind="session-required")


@router.post(
    "/v1/auth/sessions", status_code=201, response_model=SessionStarted, openapi_extra=PUBLIC,
    summary="Sign a person in: email, password and a TOTP or recovery code; sets the session cookie",
)
async def sign_in(
    data: SignIn, request: Request, response: Response, session: SessionDep,
    accounts: AccountsDep, sessions: SessionsDep,
) -> SessionStarted:
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    address = address_of(request)
    fingerprint = accounts.box.fingerprint(data.email)
    await throttle.check(fingerprint, address)
    try:
        verified = await people.verify_sign_in(
            session, request.app.state.database, accounts, data.email, data.password, data.code,
            address,
        )
    except people.SignInRefused:
        await throttle.count_failure(fingerprint, address)
        raise
    await session.commit()  # the sign-in is stored before its session starts (apart, on SQLite)
    previous = request.app.state.request_authenticator.session_id(request.scope)
    session_id, record = await sessions.start(verified.person, verified.amr, previous)
    _set_cookie(request, response, session_id)
    response.headers.update(NO_STORE)
    return SessionStarted(
        person=accounts.present(verified.person), csrf_token=record.csrf_token,
        recovery_codes=verified.recovery_codes,
    )


@router.get(
    "/v1/auth/session", response_model=SessionRead,
    summary="The signed-in person and the session's CSRF token",
)
async def current_session(
    caller: CurrentCaller, response: Response, session: SessionDep, accounts: AccountsDep,
) -> SessionRead:
    _signed_in(caller.session)
    record = caller.session.record  # type: ignore[union-attr]
    person = await people.signed_in_person(session, accounts, record.person_id)
    if person is None:
        raise SessionEnded()
    response.headers.update(NO_STORE)
    return SessionRead(person=person, csrf_token=record.csrf_token)


@router.delete("/v1/auth/session", status_code=204, summary="Sign out")
async def sign_out(
    caller: CurrentCaller, request: Request, session: SessionDep, sessions: SessionsDep,
) -> Response:
    _signed_in(caller.session)
    await sessions.end(request.app.state.request_authenticator.session_id(request.scope))
    await audit.record(session, _event(caller.identity, "sign_out", request))
    response = Response(status_code=204)
    _set_cookie(request, response, None)
    return response


@router.delete("/v1/auth/sessions", status_code=204, summary="Sign out everywhere")
async def sign_out_everywhere(
    caller: CurrentCaller, request: Request, session: SessionDep, sessions: SessionsDep,
) -> Response:
    _signed_in(caller.session)
    await sessions.end_everywhere(uuid.UUID(caller.identity.subject))
    await audit.record(session, _event(caller.identity, "sign_out_everywhere", request))
    response = Response(status_code=204)
    _set_cookie(request, response, None)
    return response


@router.post(
    "/v1/auth/session/token", response_model=TokenResponse,
    summary="A short-lived bearer token for the signed-in person, for API use",
)
async def person_token(
    caller: CurrentCaller, response: Response, sessions: SessionsDep,
) -> TokenResponse:
    _signed_in(caller.session)
    response.headers.update(NO_STORE)
    return await sessions.bearer_token(caller.session)  # type: ignore[arg-type]


def _event(identity: Identity, action: str, request: Request) -> audit.Event:
    return audit.Event(
        identity.organization_id, identity.subject, action, identity.subject, address_of(request),
    )
