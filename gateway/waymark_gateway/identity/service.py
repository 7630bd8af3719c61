"""The built-in issuer: client authentication (RFC 6749 §2.3.1, §4.4) and API client creation."""

import asyncio
import base64
import binascii
import functools
import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote_plus

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from waymark_gateway.identity import repository
from waymark_gateway.identity.models import ApiClient
from waymark_gateway.identity.schemas import (
    ApiClientCreate,
    ApiClientCreated,
    ApiClientRead,
    TokenResponse,
)
from waymark_gateway.proxy.upstreams import Upstreams
from waymark_gateway.settings import GatewaySettings
from waymark_kernel.api import Page, position_after
from waymark_kernel.auth import NETWORK_ADMIN, Identity
from waymark_kernel.cursors import CursorFormat, Text
from waymark_kernel.problems import Conflict, NotFound, Problem
from waymark_kernel.signing import SigningKey
from waymark_kernel.text import NUL

ADMIN_CLIENT_ID = "network-admin"
CLIENT_GRANT = "client_credentials"
MAX_CLIENT_ID_LENGTH, MAX_SECRET_LENGTH = 64, 256
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
BY_CLIENT_ID = CursorFormat(Text(max_length=64))  # ApiClient.client_id
# argon2id at OWASP's minimum cost: the secrets are 256-bit random, so the hash guards a
# stolen table rather than slowing guesses, and a flood of token requests stays affordable.
hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class OAuthError(Problem):
    """A token-endpoint error: a problem body carrying the OAuth `error` code (RFC 6749 §5.2)."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        headers = dict(NO_STORE)
        if status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="waymark"'
        super().__init__(
            status, detail, kind=error.replace("_", "-"), headers=headers,
            extra={"error": error, "error_description": detail},
        )


def invalid_request(detail: str) -> OAuthError:
    return OAuthError(400, "invalid_request", detail)


def invalid_client() -> OAuthError:
    # The same answer whether the id is unknown, revoked or the secret wrong.
    return OAuthError(401, "invalid_client", "Client authentication failed.")


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str


@dataclass(frozen=True)
class Issuer:
    signing_key: SigningKey = field(repr=False)
    issuer: str
    audience: str
    ttl_seconds: int
    admin_secret: str | None = field(repr=False)  # None: an external issuer replaces this one

    @classmethod
    def from_settings(cls, settings: GatewaySettings, signing_key: SigningKey) -> "Issuer":
        return cls(
            signing_key, settings.token_issuer, settings.token_audience,
            settings.token_ttl_seconds,
            None if settings.oidc_discovery_url else settings.admin_secret,
        )

    def token_for(self, identity: Identity) -> TokenResponse:
        token = self.signing_key.issue(
            subject=identity.subject, organization_id=identity.organization_id,
            roles=sorted(identity.roles), issuer=self.issuer, audience=self.audience,
            ttl_seconds=self.ttl_seconds,
        )
        return TokenResponse(access_token=token, expires_in=self.ttl_seconds)

    def is_admin_secret(self, secret: str) -> bool:
        return self.admin_secret is not None and hmac.compare_digest(
            secret.encode(), self.admin_secret.encode()
        )


def _single(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name, [])
    if len(values) > 1:
        raise invalid_request(f"The parameter {name} is given more than once.")
    return _without_nul(values[0], name) if values else None


def _without_nul(value: str, name: str) -> str:
    if NUL in value:
        raise invalid_request(f"The parameter {name} holds the NUL character.")
    return value


def _basic_credentials(authorization: str | None) -> ClientCredentials | None:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise invalid_request("The Basic authorization header is malformed.") from exc
    client_id, colon, client_secret = decoded.partition(":")
    if not colon:
        raise invalid_request("The Basic authorization header is malformed.")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before the Basic encoding.
    return ClientCredentials(
        _without_nul(unquote_plus(client_id), "client_id"),
        _without_nul(unquote_plus(client_secret), "client_secret"),
    )


def client_credentials_grant(
    form: Mapping[str, list[str]], authorization: str | None
) -> ClientCredentials:
    """The client of a token request, from HTTP Basic or from the form (never both)."""
    grant_type = _single(form, "grant_type")
    if not grant_type:
        raise invalid_request("The parameter grant_type is required.")
    if grant_type != CLIENT_GRANT:
        raise OAuthError(
            400, "unsupported_grant_type", "Only the client_credentials grant is supported."
        )
    client_id, client_secret = _single(form, "client_id"), _single(form, "client_secret")
    basic = _basic_credentials(authorization)
    if basic is not None:
        if client_secret is not None or (client_id is not None and client_id != basic.client_id):
            raise invalid_request("Authenticate the client one way only: HTTP Basic or the form.")
        return basic
    if client_id is None and client_secret is None:
        raise invalid_client()
    if not client_id or not client_secret:
        raise invalid_request("Both client_id and client_secret are required.")
    return ClientCredentials(client_id, client_secret)


def _secret_matches(secret_hash: str, secret: str) -> bool:
    try:
        return hasher.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _unknown_client_hash() -> str:
    return hasher.hash(secrets.token_urlsafe(32))


async def authenticate_client(
    session: AsyncSession, issuer: Issuer, credentials: ClientCredentials
) -> Identity:
    if credentials.client_id == ADMIN_CLIENT_ID:
        if issuer.is_admin_secret(credentials.client_secret):
            return Identity(ADMIN_CLIENT_ID, None, frozenset({NETWORK_ADMIN}))
        raise invalid_client()
    too_long = (
        len(credentials.client_id) > MAX_CLIENT_ID_LENGTH
        or len(credentials.client_secret) > MAX_SECRET_LENGTH
    )
    if too_long:
        raise invalid_client()
    client = await repository.active_client(session, credentials.client_id)
    # An unknown id costs the same hashing as a known one, so timing does not tell them apart.
    secret_hash = client.secret_hash if client else _unknown_client_hash()
    matches = await asyncio.to_thread(_secret_matches, secret_hash, credentials.client_secret)
    if client is None or not matches:
        raise invalid_client()
    return Identity(client.client_id, client.organization_id, frozenset(client.roles))


async def ensure_organization_exists(
    upstreams: Upstreams, organization_id: uuid.UUID, authorization: str
) -> None:
    """Asks the registry, with the caller's own token, whether the organisation exists."""
    response = await upstreams.get(
        "registry", f"/v1/organizations/{organization_id}", authorization=authorization
    )
    if response.status == 404:
        raise NotFound("organisation")
    if response.status != 200:
        raise Problem(
            502, "The registry service could not confirm the organisation; try again shortly.",
            kind="upstream-unavailable",
        )


class TooManyClients(Conflict):
    def __init__(self, most: int) -> None:
        super().__init__(
            f"The organisation already has {most} active API clients, the most it may have; "
            "revoke one it no longer uses first.", kind="too-many-clients",
        )


async def _ensure_room_for_clients(
    session: AsyncSession, organization_id: uuid.UUID, most: int, adding: int
) -> None:
    if await repository.active_client_count(session, organization_id) + adding > most:
        raise TooManyClients(most)


async def create_client(
    session: AsyncSession, organization_id: uuid.UUID, data: ApiClientCreate, most: int
) -> ApiClientCreated:
    """A new client of the organisation, unless it has `most` active ones already."""
    await _ensure_room_for_clients(session, organization_id, most, adding=1)  # before hashing
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        client_id="wm_" + secrets.token_urlsafe(16), name=data.name,
        organization_id=organization_id, roles=list(data.roles),
        secret_hash=await asyncio.to_thread(hasher.hash, secret), created_at=datetime.now(UTC),
    )
    await repository.lock_clients_of(session, organization_id)
    await repository.add_client(session, client)
    # Counted again with the new one, after any concurrent creation: the cap holds exactly.
    await _ensure_room_for_clients(session, organization_id, most, adding=0)
    return ApiClientCreated(
        client_id=client.client_id, client_secret=secret, name=client.name,
        roles=client.roles, organization_id=organization_id,
    )


async def revoke_client(
    session: AsyncSession, organization_id: uuid.UUID, client_id: str
) -> None:
    client = await repository.organization_client(session, organization_id, client_id)
    if client is None:
        raise NotFound("client")
    if client.revoked_at is None:
        client.revoked_at = datetime.now(UTC)
        await session.flush()


async def list_clients(
    session: AsyncSession, organization_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[ApiClientRead]:
    after = position_after(cursor, BY_CLIENT_ID)
    clients = await repository.organization_clients(
        session, organization_id, after=after[0] if after else None, limit=limit + 1
    )
    more = len(clients) > limit
    clients = clients[:limit]
    return Page(
        items=[ApiClientRead.model_validate(client, from_attributes=True) for client in clients],
        next_cursor=BY_CLIENT_ID.encode(clients[-1].client_id) if more else None,
    )
