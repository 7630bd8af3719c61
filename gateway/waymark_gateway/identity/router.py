import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from waymark_gateway.identity import service
from waymark_gateway.identity.schemas import (
    ApiClientCreate,
    ApiClientCreated,
    ApiClientRead,
    JsonWebKeySet,
    TokenResponse,
)
from waymark_gateway.identity.service import Issuer
from waymark_gateway.proxy.ratelimit import TOKEN_REQUESTS, RateLimits
from waymark_gateway.proxy.upstreams import Upstreams
from waymark_gateway.sessions.authentication import CallerIdentity, CurrentCaller
from waymark_kernel.api import Cursor, Limit, Page
from waymark_kernel.auth import Identity
from waymark_kernel.db import SessionDep
from waymark_kernel.problems import Forbidden, Problem

router = APIRouter(tags=["identity"])
# The token endpoint and the clients it knows, replaced by `replaced_router` when an external
# OpenID Connect issuer is configured.
built_in_router = APIRouter(tags=["identity"])
replaced_router = APIRouter(include_in_schema=False)
PUBLIC: dict[str, Any] = {"security": []}
TOKEN_REQUEST_DOCUMENT: dict[str, Any] = {
    **PUBLIC,
    "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": [service.CLIENT_GRANT]},
            "client_id": {"type": "string", "description": "Or use HTTP Basic authentication."},
            "client_secret": {"type": "string", "format": "password"},
        },
    }}}},
}


def _issuer(request: Request) -> Issuer:
    issuer: Issuer = request.app.state.issuer
    return issuer


def _upstreams(request: Request) -> Upstreams:
    upstreams: Upstreams = request.app.state.upstreams
    return upstreams


IssuerDep = Annotated[Issuer, Depends(_issuer)]
UpstreamsDep = Annotated[Upstreams, Depends(_upstreams)]


@built_in_router.post(
    "/v1/auth/token", openapi_extra=TOKEN_REQUEST_DOCUMENT,
    summary="Get an access token (OAuth 2.0 client credentials)",
)
async def issue_token(
    request: Request, response: Response, session: SessionDep, issuer: IssuerDep
) -> TokenResponse:
    limits: RateLimits = request.app.state.rate_limits
    address = request.app.state.client_addresses.of(request)
    form = await request.form(max_files=0, max_fields=10)
    try:
        credentials = service.client_credentials_grant(
            {name: [str(value) for value in form.getlist(name)] for name in form},
            request.headers.get("authorization"),
        )
    except service.OAuthError:
        await limits.count_failure(TOKEN_REQUESTS, None, address)
        raise
    client_id = credentials.client_id
    await limits.check_failures(TOKEN_REQUESTS, client_id, address)
    await limits.check_successes(TOKEN_REQUESTS, client_id, address)
    try:
        identity = await service.authenticate_client(session, issuer, credentials)
    except service.OAuthError:
        await limits.count_failure(TOKEN_REQUESTS, client_id, address)
        raise
    await limits.count_success(TOKEN_REQUESTS, client_id, address)
    response.headers.update(service.NO_STORE)
    return issuer.token_for(identity)


@router.get(
    "/.well-known/jwks.json", response_model=JsonWebKeySet, openapi_extra=PUBLIC,
    summary="Public keys of the built-in token issuer",
)
async def jwks(request: Request, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=300"
    keys: dict[str, Any] = request.app.state.jwks
    return keys


@built_in_router.post(
    "/v1/organizations/{organization_id}/clients", status_code=201,
    summary="Create an API client of an organisation",
)
async def create_client(
    organization_id: uuid.UUID, data: ApiClientCreate, caller: CurrentCaller,
    request: Request, response: Response, session: SessionDep, upstreams: UpstreamsDep,
) -> ApiClientCreated:
    ensure_admin_of(caller.identity, organization_id)
    await service.ensure_organization_exists(upstreams, organization_id, caller.authorization)
    response.headers.update(service.NO_STORE)
    return await service.create_client(
        session, organization_id, data, request.app.state.settings.max_clients_per_organization
    )


@built_in_router.get(
    "/v1/organizations/{organization_id}/clients", summary="List the API clients of an organisation, revoked ones included",
)
async def list_clients(
    organization_id: uuid.UUID, identity: CallerIdentity, session: SessionDep,
    limit: Limit = 50, cursor: Cursor = None,
) -> Page[ApiClientRead]:
    ensure_admin_of(identity, organization_id)
    return await service.list_clients(session, organization_id, limit, cursor)


@built_in_router.delete(
    "/v1/organizations/{organization_id}/clients/{client_id}", status_code=204,
    summary="Revoke an API client: no new tokens, and its tokens stop working within seconds",
)
async def revoke_client(
    organization_id: uuid.UUID, client_id: Annotated[str, Path(max_length=64)],
    identity: CallerIdentity, request: Request, session: SessionDep,
) -> Response:
    ensure_admin_of(identity, organization_id)
    await service.revoke_client(session, organization_id, client_id)
    request.app.state.revoked_clients.add(client_id)  # other replicas reload it within seconds
    return Response(status_code=204)


def ensure_admin_of(identity: Identity, organization_id: uuid.UUID) -> None:
    if not identity.is_admin_of(organization_id):
        raise Forbidden(
            "Only a network admin or the organisation's own admin may manage its clients."
        )


@replaced_router.api_route("/v1/auth/token", methods=["POST"])
@replaced_router.api_route("/v1/organizations/{organization_id}/clients", methods=["GET", "POST"])
@replaced_router.api_route(
    "/v1/organizations/{organization_id}/clients/{client_id}", methods=["DELETE"]
)
async def built_in_issuer_replaced(request: Request) -> None:
    raise Problem(
        404, "This network accepts the tokens of its OpenID Connect issuer only (discovery "
        f"document: {request.app.state.settings.oidc_discovery_url}); the built-in token "
        "endpoint and its API clients are turned off.", kind="built-in-issuer-replaced",
    )
