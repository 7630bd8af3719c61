"""The gateway: the built-in token issuer, one merged API document, and the authenticated
proxy in front of the registry, referrals and notifications services."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from waymark_gateway.audit.router import router as audit_router
from waymark_gateway.identity.authentication import Authenticator, ExternalIssuer, RevokedClients
from waymark_gateway.identity.keys import jwks_document, load_or_create_signing_key
from waymark_gateway.identity.router import built_in_router, replaced_router
from waymark_gateway.identity.router import router as identity_router
from waymark_gateway.identity.service import Issuer
from waymark_gateway.openapi.merge import MergedDocument
from waymark_gateway.openapi.router import router as openapi_router
from waymark_gateway.operations import router as operations_router
from waymark_gateway.people import service as people
from waymark_gateway.people.erasure import Erasures
from waymark_gateway.people.router import router as people_router
from waymark_gateway.proxy.addresses import ClientAddresses
from waymark_gateway.proxy.middleware import (
    FORM_ENVELOPE_BYTES,
    IMPORT_PAGE_ROUTE,
    IMPORT_ROUTE,
    MAX_BODY_BYTES,
    GatewayProxy,
    RouteLimits,
    RouteTable,
)
from waymark_gateway.proxy.pages import PagesOutsideApi
from waymark_gateway.proxy.ratelimit import RateLimits
from waymark_gateway.proxy.upstreams import AsgiUpstream, HttpUpstream, Upstream, Upstreams
from waymark_gateway.sessions.authentication import RequestAuthenticator
from waymark_gateway.sessions.providers import RelyingParty
from waymark_gateway.sessions.repository import DatabaseSessions, RedisSessions, SessionStore
from waymark_gateway.sessions.router import router as sessions_router
from waymark_gateway.sessions.service import Sessions
from waymark_gateway.settings import GatewaySettings
from waymark_kernel.auth import TokenVerifier
from waymark_kernel.db import Database
from waymark_kernel.settings import SERVICE_NAMES, Settings
from waymark_kernel.signing import SigningKey
from waymark_kernel.web import create_base_app

__all__ = [
    "MIGRATIONS", "AsgiUpstream", "HttpUpstream", "Upstream", "create_app", "jwks_document",
    "load_or_create_signing_key",
]
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: Settings | None = None,
    *,
    upstreams: dict[str, Upstream] | None = None,
    signing_key: SigningKey | None = None,
    pages: Callable[[ASGIApp], ASGIApp] | None = None,
) -> FastAPI:
    """`upstreams` and `signing_key` are passed in when one process hosts the whole network;
    `pages` builds, from the gateway app it is given to call, the web app served for every
    path outside the API's."""
    settings = GatewaySettings.of(settings or Settings())
    signing_key = signing_key or load_or_create_signing_key(settings)
    # Fails without an admin secret, unless an external issuer replaces the built-in one.
    issuer = Issuer.from_settings(settings, signing_key)
    retired_keys = [
        SigningKey.from_pem(path.read_bytes()) for path in settings.previous_signing_key_files
    ]
    jwks = jwks_document([signing_key, *retired_keys])
    upstreams = upstreams or {
        name: HttpUpstream(
            settings.service_url(name), timeout=settings.upstream_timeout_seconds,
            connections=settings.upstream_max_concurrent,
        )
        for name in SERVICE_NAMES
    }
    if missing := set(SERVICE_NAMES) - upstreams.keys():
        raise ValueError(f"the gateway needs an upstream for {', '.join(sorted(missing))}")
    pool = Upstreams(
        upstreams, failure_threshold=settings.circuit_failure_threshold,
        open_seconds=settings.circuit_open_seconds,
        max_concurrent=settings.upstream_max_concurrent,
    )
    rate_limits = RateLimits.from_settings(settings)
    database = Database(settings.database_url("gateway"))
    revoked = RevokedClients(
        database, token_ttl_seconds=settings.token_ttl_seconds,
        refresh_seconds=settings.revocation_refresh_seconds,
    )
    external = ExternalIssuer(
        settings.oidc_discovery_url, audience=settings.oidc_audience or settings.token_audience,
        organization_claim=settings.oidc_organization_claim, roles_claim=settings.oidc_roles_claim,
    ) if settings.oidc_discovery_url else None
    accounts = people.Accounts.from_settings(settings)  # fails without WAYMARK_ENCRYPTION_KEY
    idle_seconds = settings.session_idle_minutes * 60
    store: SessionStore = RedisSessions(
        settings.redis_url, prefix=settings.redis_key_prefix, idle_seconds=idle_seconds,
        timeout=max(settings.redis_timeout_seconds, 1.0),
    ) if settings.redis_url else DatabaseSessions(database, idle_seconds=idle_seconds)

    async def display_name(person_id: uuid.UUID) -> str:
        return await people.display_name(database, accounts, person_id)

    relying_parties = {
        name: RelyingParty(
            name, provider, box=accounts.box,
            redirect_uri=f"{accounts.public_url}/v1/auth/providers/{name}/callback",
        )
        for name, provider in settings.sign_in_providers.items()
    }
    erasures = Erasures(database, pool, issuer, settings.erasure_retry_seconds)
    sessions = Sessions(
        store, issuer, max_seconds=settings.session_max_hours * 3600, display_name=display_name,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.is_standalone:
            from waymark_kernel.migrations import upgrade  # Alembic costs 0.2 s: only to migrate

            await upgrade(database.url, MIGRATIONS)
        await pool.start()
        await revoked.refresh()
        loops = [asyncio.create_task(revoked.keep_fresh()),
                 asyncio.create_task(erasures.keep_trying())]
        try:
            yield
        finally:
            for loop in loops:
                loop.cancel()
            for loop in loops:
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
            await pool.close()
            await rate_limits.close()
            await store.close()
            await database.dispose()

    async def own_keys() -> dict[str, Any]:
        return jwks

    app = create_base_app(
        "gateway", title="Waymark API", lifespan=lifespan,
        checks={},  # the gateway's own /readyz (operations.py) replaces the base one
    )
    app.state.settings = settings
    app.state.database = database
    app.state.issuer = issuer
    app.state.jwks = jwks
    app.state.upstreams = pool
    app.state.rate_limits = rate_limits
    app.state.client_addresses = ClientAddresses(settings.trusted_proxies)
    app.state.revoked_clients = revoked
    app.state.token_verifier = Authenticator(
        TokenVerifier(own_keys, issuer=settings.token_issuer, audience=settings.token_audience),
        issuer, revoked, external, sessions.live_record,
    )
    app.state.accounts = accounts
    app.state.erasures = erasures
    app.state.sessions = sessions
    app.state.relying_parties = relying_parties
    app.state.request_authenticator = RequestAuthenticator(
        app.state.token_verifier, sessions, app.state.client_addresses, revoked,
    )
    body_limits = RouteLimits(
        "WAYMARK_IMPORT_BODY_LIMIT_BYTES", {
            IMPORT_ROUTE: settings.import_body_limit_bytes,
            IMPORT_PAGE_ROUTE: settings.import_body_limit_bytes + FORM_ENVELOPE_BYTES,
        },
        default=MAX_BODY_BYTES,
    )
    app.state.api_document = MergedDocument(
        app.openapi, pool, body_limits.of, settings.oidc_discovery_url
    )
    # The merged document, its page with local assets, the upstreams' states and the metrics
    # for the network admin replace the base app's routes; ReDoc goes (no pinned package
    # serves its files, and /docs is enough).
    replaced = {app.openapi_url, app.docs_url, app.redoc_url, "/readyz", "/metrics"}
    app.router.routes[:] = [
        route for route in app.router.routes if getattr(route, "path", None) not in replaced
    ]
    app.include_router(operations_router)
    app.include_router(openapi_router)
    app.include_router(identity_router)
    app.include_router(sessions_router)
    app.include_router(people_router)
    app.include_router(audit_router)
    # An external issuer replaces the built-in one: its routes answer a problem saying so.
    app.include_router(built_in_router if external is None else replaced_router)
    # Innermost user middleware: the request-id and metrics layer wraps proxied calls too.
    app.user_middleware.append(Middleware(
        GatewayProxy, upstreams=pool, authenticator=app.state.request_authenticator,
        rate_limits=rate_limits, client_addresses=app.state.client_addresses,
        route_timeouts=RouteTable("WAYMARK_ROUTE_TIMEOUTS", {
            IMPORT_ROUTE: settings.import_timeout_seconds, **settings.route_timeouts,
        }),
        body_limits=body_limits,
    ))
    if pages is not None:  # inside the proxy: the same header and body limits apply to pages
        app.user_middleware.append(Middleware(PagesOutsideApi, pages=pages(app)))
    return app
