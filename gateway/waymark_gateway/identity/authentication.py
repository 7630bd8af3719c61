"""Who is calling: a token of the built-in issuer, or, when an external OpenID Connect issuer is
configured, a token of that issuer instead — never one of a revoked client.

Services trust only the gateway's keys, so a caller with an external token is passed on with a
short-lived token the gateway issues itself for the same identity."""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from waymark_gateway.identity import repository
from waymark_gateway.identity.service import Issuer
from waymark_gateway.people import repository as people
from waymark_gateway.sessions.repository import SessionRecord
from waymark_kernel.auth import ROLES, Identity, TokenVerifier, Unauthenticated
from waymark_kernel.db import Database
from waymark_kernel.problems import Problem

log = logging.getLogger("waymark.gateway.authentication")
# Asymmetric algorithms only: `none` and shared-secret HMAC tokens are never accepted.
EXTERNAL_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
FORWARDED_TOKEN_SECONDS = 60
CACHE_SIZE = 10_000


class RevokedClients:
    """Client ids revoked, and people deactivated, recently enough for their tokens to be still
    unexpired, reloaded from the shared database every few seconds so that every replica
    learns of a revocation."""

    def __init__(self, database: Database, *, token_ttl_seconds: int, refresh_seconds: float) -> None:
        self.database = database
        self.token_ttl_seconds = token_ttl_seconds
        self.refresh_seconds = refresh_seconds
        self.client_ids: frozenset[str] = frozenset()
        self.person_ids: frozenset[str] = frozenset()

    def add(self, client_id: str) -> None:
        self.client_ids = self.client_ids | {client_id}

    def add_person(self, person_id: uuid.UUID) -> None:
        self.person_ids = self.person_ids | {str(person_id)}

    def is_revoked(self, identity: Identity) -> bool:
        revoked = self.person_ids if identity.is_person else self.client_ids
        return identity.subject in revoked

    async def refresh(self) -> None:
        since = datetime.now(UTC) - timedelta(seconds=self.token_ttl_seconds + 60)
        async with self.database.transaction() as session:
            self.client_ids = frozenset(await repository.revoked_since(session, since))
            self.person_ids = frozenset(
                str(person_id) for person_id in await people.deactivated_since(session, since)
            )

    async def keep_fresh(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # the last list stands until the next try
                log.warning("revoked clients not reloaded", extra={"error": repr(exc)})
            await asyncio.sleep(self.refresh_seconds)


class ExternalIssuer:
    """An OpenID Connect issuer found through its discovery document."""

    def __init__(
        self, discovery_url: str, *, audience: str, organization_claim: str, roles_claim: str,
        timeout: float = 5.0, refresh_interval: float = 30.0,
    ) -> None:
        self.discovery_url = discovery_url
        self.audience = audience
        self.organization_claim = organization_claim
        self.roles_claim = roles_claim
        self.timeout = timeout
        self.refresh_interval = refresh_interval
        self.issuer: str | None = None
        self.document: dict[str, Any] = {}
        self._jwks_uri: str | None = None
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def _get(self, url: str) -> dict[str, Any]:
        import aiohttp  # aiohttp: 0.15 s of CPU at every start, loaded when first needed

        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as client, client.get(url) as response:
            response.raise_for_status()
            document: dict[str, Any] = await response.json()
            return document

    async def discover(self) -> str:
        """The issuer identifier (`iss`), read once from the discovery document."""
        if self.issuer is None:
            async with self._lock:
                if self.issuer is None:
                    try:
                        document = await self._get(self.discovery_url)
                        self._jwks_uri, self.issuer = document["jwks_uri"], document["issuer"]
                        self.document = document
                    except Exception as exc:
                        raise Problem(
                            503, "The external token issuer cannot be reached.",
                        ) from exc
        return self.issuer

    async def _key(self, kid: str | None) -> Any:
        stale = self._fetched_at is None or time.monotonic() - self._fetched_at > self.refresh_interval
        if kid not in self._keys and stale and self._jwks_uri:
            async with self._lock:
                try:
                    document = await self._get(self._jwks_uri)
                except Exception as exc:
                    raise Problem(503, "The external token issuer's keys cannot be fetched.") from exc
                self._keys = {}
                for key in document.get("keys", []):
                    if key.get("use", "sig") == "sig":
                        # Keys of types this verifier cannot use are left out, not fatal.
                        with contextlib.suppress(jwt.PyJWKError, jwt.InvalidKeyError):
                            self._keys[key.get("kid")] = jwt.PyJWK(key).key
                self._fetched_at = time.monotonic()
        if kid not in self._keys:
            raise Unauthenticated("The token is signed with a key the issuer never published.")
        return self._keys[kid]

    async def verify(self, token: str, header: dict[str, Any]) -> tuple[Identity, float]:
        """The identity in an external token, and when the token expires."""
        claims = await self.claims(token, header)
        return self.identity(claims), float(claims["exp"])

    async def claims(self, token: str, header: dict[str, Any]) -> dict[str, Any]:
        """The claims of a token this issuer signed for this audience, once verified."""
        if header.get("alg") not in EXTERNAL_ALGORITHMS:
            raise Unauthenticated("The token's algorithm is not accepted.")
        issuer = await self.discover()
        key = await self._key(header.get("kid"))
        try:
            claims = jwt.decode(
                token, key, algorithms=EXTERNAL_ALGORITHMS, audience=self.audience, issuer=issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("The token has expired.") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("The token is not valid.") from exc
        return claims

    def identity(self, claims: dict[str, Any]) -> Identity:
        organization = _claim(claims, self.organization_claim)
        roles = _claim(claims, self.roles_claim) or []
        if isinstance(roles, str):
            roles = roles.split()
        try:
            organization_id = uuid.UUID(str(organization)) if organization else None
        except ValueError as exc:
            raise Unauthenticated("The token's organisation is not a Waymark organisation id.") from exc
        if not isinstance(roles, list):
            raise Unauthenticated("The token's roles claim is not a list.")
        return Identity(
            subject=f"oidc:{claims['sub']}", organization_id=organization_id,
            roles=frozenset(str(role) for role in roles if role in ROLES),
        )


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by name, or by a dotted path into nested claims (`realm_access.roles`)."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class Authenticator:
    """The gateway's token check; `verify` makes it usable as the kernel's token verifier."""

    def __init__(
        self, own: TokenVerifier, issuer: Issuer, revoked: RevokedClients,
        external: ExternalIssuer | None,
        live_session: Callable[[str], Awaitable[SessionRecord | None]],
    ) -> None:
        self.own = own
        self.issuer = issuer
        self.revoked = revoked
        self.external = external
        self.live_session = live_session
        self._forwarded: dict[str, tuple[float, Identity, str]] = {}

    async def verify(self, token: str) -> Identity:
        identity, _ = await self.authenticate(token)
        return identity

    async def authenticate(self, token: str) -> tuple[Identity, str | None]:
        """The caller, and the bearer token to pass on instead of the caller's (or None)."""
        external = self.external
        if external is None:
            identity, forwarded = await self.own.verify(token), None
        elif await self._is_external(external, token):
            identity, forwarded = await self._external(external, token)
        else:
            raise Unauthenticated("Only tokens of this network's OpenID Connect issuer are accepted.")
        if self.revoked.is_revoked(identity):
            raise Unauthenticated("This client's or person's access has been revoked.")
        if identity.is_person:
            await self._check_session(identity)
        return identity, forwarded

    async def _check_session(self, identity: Identity) -> None:
        """A person's token lives no longer than her session, nor past a change of her roles."""
        record = await self.live_session(identity.session) if identity.session else None
        if (record is None or str(record.person_id) != identity.subject
                or frozenset(record.roles) != identity.roles):
            raise Unauthenticated("The session this token was issued for has ended or changed; "
                                  "sign in again.")

    async def _is_external(self, external: ExternalIssuer, token: str) -> bool:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return False
        return claims.get("iss") == await external.discover()

    async def _external(self, external: ExternalIssuer, token: str) -> tuple[Identity, str]:
        now = time.time()
        cached = self._forwarded.get(token)
        if cached is not None and cached[0] > now + 5:
            return cached[1], cached[2]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("The bearer token is malformed.") from exc
        identity, expires = await external.verify(token, header)
        lifetime = int(min(FORWARDED_TOKEN_SECONDS, expires - now))
        forwarded = self.issuer.signing_key.issue(
            subject=identity.subject, organization_id=identity.organization_id,
            roles=sorted(identity.roles), issuer=self.issuer.issuer,
            audience=self.issuer.audience, ttl_seconds=max(1, lifetime),
        )
        if len(self._forwarded) >= CACHE_SIZE:
            self._forwarded.clear()
        self._forwarded[token] = (min(expires, now + lifetime), identity, forwarded)
        return identity, forwarded
