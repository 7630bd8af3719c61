import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from waymark_gateway.identity import service
from waymark_gateway.identity.schemas import (
    ApiClientCreate, ApiClientCreated, JsonWebKeySet, TokenResponse,
)
from waymark_gateway.identity.service import Issuer
from waymark_gateway.proxy.ratelimit import RateLimits
from waymark_gateway.proxy.upstreams import Upstreams
from waymark_kernel.auth import CurrentIdentity, bearer_token
from waymark_kernel.db import SessionDep
from waymark_kernel.problems import Forbidden

router = APIRouter(tags=["identity"])
PUBLIC = {"security": []}
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
    return request.app.state.issuer


def _upstreams(request: Request) -> Upstreams:
    return request.app.state.upstreams


IssuerDep = Annotated[Issuer, Depends(_issuer)]
UpstreamsDep = Annotated[Upstreams, Depends(_upstreams)]


@router.post(
    "/v1/auth/token", response_model=TokenResponse, openapi_extra=TOKEN_REQUEST_DOCUMENT,
    summary="Get an access token (OAuth 2.0 client credentials)",
)
async def issue_token(
    request: Request, response: Response, session: SessionDep, issuer: IssuerDep
) -> TokenResponse:
    limits: RateLimits = request.app.state.rate_limits
    address = request.client.host if request.client else None
    await limits.check_token_attempts(None, address)
    form = await request.form(max_files=0, max_fields=10)
    client_id = None
    try:
        credentials = service.client_credentials_grant(
            {name: [str(value) for value in form.getlist(name)] for name in form},
            request.headers.get("authorization"),
        )
        client_id = credentials.client_id
        await limits.check_token_attempts(client_id, None)
        identity = await service.authenticate_client(session, issuer, credentials)
    except service.OAuthError:
        await limits.count_token_failure(client_id, address)
        raise
    response.headers.update(service.NO_STORE)
    return issuer.token_for(identity)


@router.get(
    "/.well-known/jwks.json", response_model=JsonWebKeySet, openapi_extra=PUBLIC,
    summary="Public keys of the built-in token issuer",
)
async def jwks(request: Request, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=300"
    return request.app.state.jwks


@router.post(
    "/v1/organizations/{organization_id}/clients", status_code=201,
    response_model=ApiClientCreated, summary="Create an API client of an organisation",
)
async def create_client(
    organization_id: uuid.UUID, data: ApiClientCreate, identity: CurrentIdentity,
    request: Request, response: Response, session: SessionDep, upstreams: UpstreamsDep,
) -> ApiClientCreated:
    if not identity.is_admin_of(organization_id):
        raise Forbidden(
            "Only a network admin or the organisation's own admin may create its clients."
        )
    await service.ensure_organization_exists(
        upstreams, organization_id, f"Bearer {bearer_token(request)}"
    )
    response.headers.update(service.NO_STORE)
    return await service.create_client(session, organization_id, data)
