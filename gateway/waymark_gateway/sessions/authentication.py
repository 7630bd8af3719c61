"""Who is calling, for proxied calls and the gateway's own routes alike: a bearer token, or else
the session cookie of a signed-in person (with the CSRF token for anything that changes state)."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.types import Scope

from waymark_gateway.identity.authentication import Authenticator, RevokedClients
from waymark_gateway.proxy.addresses import ClientAddresses
from waymark_gateway.sessions.service import (
    CSRF_FIELD,
    CSRF_HEADER,
    ActiveSession,
    SessionEnded,
    Sessions,
    cookie_name,
)
from waymark_kernel.auth import Identity, Unauthenticated, bearer_token

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True)
class Caller:
    identity: Identity
    upstream_token: str  # what the services receive: the caller's own token or one the gateway issued
    session: ActiveSession | None = None

    @property
    def authorization(self) -> str:
        return f"Bearer {self.upstream_token}"


class RequestAuthenticator:
    def __init__(
        self, tokens: Authenticator, sessions: Sessions, addresses: ClientAddresses,
        revoked: RevokedClients,
    ) -> None:
        self.tokens = tokens
        self.sessions = sessions
        self.addresses = addresses
        self.revoked = revoked

    def session_id(self, scope: Scope) -> str | None:
        return Request(scope).cookies.get(cookie_name(self.addresses.is_https(scope)))

    async def authenticate(self, scope: Scope, form_csrf_token: str | None = None) -> Caller:
        request = Request(scope)
        if "authorization" in request.headers or "access_token" in request.query_params:
            token = bearer_token(request)
            identity, forwarded = await self.tokens.authenticate(token)
            return Caller(identity, forwarded or token)
        session_id = self.session_id(scope)
        if session_id is None:
            raise Unauthenticated("A bearer token or a signed-in session is required.")
        active = await self.sessions.find(session_id)
        active.check_csrf(scope["method"], request.headers.get(CSRF_HEADER) or form_csrf_token)
        identity = active.identity()
        if self.revoked.is_revoked(identity):
            raise SessionEnded()
        return Caller(identity, await self.sessions.forwarded_token(active), active)


async def current_caller(request: Request) -> Caller:
    authenticator: RequestAuthenticator = request.app.state.request_authenticator
    form_token = None
    content_type = request.headers.get("content-type", "")
    if CSRF_HEADER not in request.headers and content_type.startswith(FORM_TYPES):
        value = (await request.form(max_files=0, max_fields=50)).get(CSRF_FIELD)
        form_token = value if isinstance(value, str) else None
    return await authenticator.authenticate(request.scope, form_token)


async def _caller_identity(caller: Annotated[Caller, Depends(current_caller)]) -> Identity:
    return caller.identity


CurrentCaller = Annotated[Caller, Depends(current_caller)]
CallerIdentity = Annotated[Identity, Depends(_caller_identity)]
