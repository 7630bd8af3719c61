"""Verifying the gateway-issued JWT in every service, and the permission vocabulary."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import jwt
from fastapi import Depends, Request

from waymark_kernel.problems import Problem

ALGORITHM = "EdDSA"
NETWORK_ADMIN, ORG_ADMIN, CASEWORKER, VIEWER = "network_admin", "org_admin", "caseworker", "viewer"
ROLES = (NETWORK_ADMIN, ORG_ADMIN, CASEWORKER, VIEWER)

IdentityKind = Literal["person", "client"]
PERSON: IdentityKind = "person"
CLIENT: IdentityKind = "client"
KeySource = Callable[[], Awaitable[dict[str, Any]]]  # returns a JWKS document


@dataclass(frozen=True)
class Identity:
    """Who calls: a person (`sub` is the person's id) or an API client (`sub` is its client id).
    `name` is the person's display name or the client's name when the token carries it; `amr`
    says how the person authenticated (`mfa` after a second factor); `session` names, by a hash,
    the sign-in session a person's token was issued for."""

    subject: str
    organization_id: uuid.UUID | None
    roles: frozenset[str]
    kind: IdentityKind = CLIENT
    name: str | None = None
    amr: frozenset[str] = frozenset()
    session: str | None = None

    @property
    def is_person(self) -> bool:
        return self.kind == PERSON

    @property
    def is_network_admin(self) -> bool:
        return NETWORK_ADMIN in self.roles

    def is_admin_of(self, organization_id: uuid.UUID) -> bool:
        return self.is_network_admin or (
            ORG_ADMIN in self.roles and self.organization_id == organization_id
        )

    def belongs_to(self, organization_id: uuid.UUID) -> bool:
        return self.organization_id == organization_id

    @property
    def can_write_cases(self) -> bool:
        return bool(self.roles & {ORG_ADMIN, CASEWORKER})


class Unauthenticated(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(
            401, detail, kind="unauthenticated",
            headers={"WWW-Authenticate": 'Bearer realm="waymark", error="invalid_token"'},
        )


def http_jwks_source(url: str, timeout: float = 5.0) -> KeySource:
    async def fetch() -> dict[str, Any]:
        import aiohttp  # aiohttp: 0.15 s of CPU at every start, loaded when first needed

        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as client,
            client.get(url) as response,
        ):
            response.raise_for_status()
            keys: dict[str, Any] = await response.json()
            return keys
    return fetch


class TokenVerifier:
    """Verifies tokens against the issuer's JWKS; keys and verified tokens are cached."""

    def __init__(
        self, key_source: KeySource, *, issuer: str, audience: str, refresh_interval: float = 30.0,
        cache_size: int = 10_000,
    ) -> None:
        self.key_source = key_source
        self.issuer = issuer
        self.audience = audience
        self.refresh_interval = refresh_interval
        self.cache_size = cache_size
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None  # not 0.0: the monotonic clock may start near 0
        self._lock = asyncio.Lock()
        self._verified: dict[str, tuple[float, Identity]] = {}

    def _may_refresh(self) -> bool:
        if self._fetched_at is None:
            return True
        return time.monotonic() - self._fetched_at > self.refresh_interval

    async def _key(self, kid: str) -> Any:
        if kid not in self._keys and self._may_refresh():
            async with self._lock:
                if kid not in self._keys and self._may_refresh():
                    try:
                        document = await self.key_source()
                    except Exception as exc:
                        raise Problem(503, "The token issuer's keys cannot be fetched.") from exc
                    self._keys = {
                        key["kid"]: jwt.PyJWK(key).key for key in document.get("keys", [])
                        if "kid" in key
                    }
                    self._fetched_at = time.monotonic()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("The token is signed with a key the issuer never published.")
        return key

    async def verify(self, token: str) -> Identity:
        cached = self._verified.get(token)
        if cached is not None and cached[0] > time.time():
            return cached[1]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("The bearer token is malformed.") from exc
        if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
            raise Unauthenticated("The token's algorithm or key id is not accepted.")
        key = await self._key(header["kid"])
        try:
            claims = jwt.decode(
                token, key, algorithms=[ALGORITHM], audience=self.audience, issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("The token has expired.") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("The token is not valid.") from exc
        identity = identity_from_claims(claims)
        if len(self._verified) >= self.cache_size:
            self._verified.clear()
        self._verified[token] = (float(claims["exp"]), identity)
        return identity


def identity_from_claims(claims: dict[str, Any]) -> Identity:
    try:
        organization = claims.get("org")
        roles = claims.get("roles", [])
        if not isinstance(roles, list):
            raise ValueError("roles")
        kind = claims.get("kind", CLIENT)
        name = claims.get("name")
        amr = claims.get("amr", [])
        session = claims.get("sid")
        if kind not in (PERSON, CLIENT) or not isinstance(amr, list):
            raise ValueError("kind")
        return Identity(
            subject=str(claims["sub"]),
            organization_id=uuid.UUID(organization) if organization else None,
            roles=frozenset(str(role) for role in roles if role in ROLES),
            kind=kind, name=str(name) if name is not None else None,
            amr=frozenset(str(method) for method in amr),
            session=str(session) if session is not None else None,
        )
    except (KeyError, ValueError) as exc:
        raise Unauthenticated("The token's claims are incomplete.") from exc


def bearer_token(request: Request) -> str:
    if "access_token" in request.query_params:
        raise Unauthenticated("Tokens are accepted only in the Authorization header.")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("A bearer token is required.")
    return token.strip()


async def current_identity(request: Request) -> Identity:
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(bearer_token(request))


CurrentIdentity = Annotated[Identity, Depends(current_identity)]


async def current_organization(identity: CurrentIdentity) -> uuid.UUID:
    if identity.organization_id is None:
        raise Problem(403, "This action needs a client that belongs to an organisation.")
    return identity.organization_id


CurrentOrg = Annotated[uuid.UUID, Depends(current_organization)]
