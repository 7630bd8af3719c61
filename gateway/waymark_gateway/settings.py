"""The gateway's own settings, beside the shared ones (same WAYMARK_ prefix, same .env file)."""

import uuid
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, field_validator
from pydantic_settings import NoDecode

from waymark_kernel.settings import Settings


class SignInProvider(BaseModel):
    """A National Society's own OpenID Connect provider, through which its people sign in."""

    model_config = ConfigDict(extra="forbid")

    discovery_url: str
    client_id: str
    client_secret: str
    organization_id: uuid.UUID
    # When set, a person the provider vouches for needs no invitation: the claim names her
    # roles (a dotted path reaches nested claims). Otherwise an invitation links her.
    roles_claim: str | None = None
    # When set, the claim (a dotted path) must name this organisation's Waymark id: a provider
    # shared by several organisations signs in through this entry only this one's people.
    organization_claim: str | None = None
    # The provider must say (`amr` holding `mfa`) that it checked a second factor. When false,
    # only people whose roles need none (viewers, see viewer_second_factor_optional) go without.
    mfa_required: bool = True


class GatewaySettings(Settings):
    # Per-role limits, e.g. `caseworker=600/minute,viewer=300/minute`; a client gets the most
    # generous limit among its roles, and WAYMARK_RATE_LIMIT when none of its roles is listed.
    rate_limit_by_role: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    # Failed token requests, per client id from one address and per address: far stricter
    # than the API's limits. A guesser locks out only his own address, never the client.
    token_failure_limit_per_client: str = "10/minute"
    token_failure_limit_per_address: str = "30/minute"
    # Tokens issued, per client and per address: each costs a password hash (~25 ms of CPU).
    token_limit_per_client: str = "30/minute"
    token_limit_per_address: str = "120/minute"
    # API clients an organisation may hold at once (revoked ones do not count).
    max_clients_per_organization: int = Field(default=20, ge=1)
    # Proxies (CIDRs, comma-separated) whose X-Forwarded-For names the caller's address; empty:
    # the address is always the immediate peer's.
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)
    # Retired signing key files (comma-separated): only their public halves are used, so the
    # tokens they signed still verify. Keep a retired key listed for WAYMARK_TOKEN_TTL_SECONDS after a rotation.
    previous_signing_key_files: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    # How often each replica reloads the revoked clients and deactivated people (under 5 s).
    revocation_refresh_seconds: float = Field(default=4.0, gt=0)
    # An external OpenID Connect issuer whose tokens are accepted instead of the built-in one's.
    oidc_discovery_url: str | None = None
    oidc_audience: str | None = None
    oidc_organization_claim: str = "org"
    oidc_roles_claim: str = "roles"  # a dotted path reaches nested claims: realm_access.roles

    # People's sign-in: failed attempts per (email, address) and per address. A person locked
    # out by failures from one address can still sign in from another.
    sign_in_failure_limit_per_account: str = "10/hour"
    sign_in_failure_limit_per_address: str = "100/hour"
    # Before that, each failure counted for an (email, address) delays its next answer by this
    # many seconds, up to the maximum.
    sign_in_delay_per_failure_seconds: float = Field(default=0.25, ge=0)
    sign_in_max_delay_seconds: float = Field(default=2.0, ge=0)
    # Attempts refused while locked go to the audit log at most this often, per (email, address)
    # and per address.
    sign_in_refusals_audited_per_account: str = "6/hour"
    sign_in_refusals_audited_per_address: str = "60/hour"
    # Server-side sessions of people: idle and absolute lifetimes.
    session_idle_minutes: float = Field(default=30.0, gt=0)
    session_max_hours: float = Field(default=12.0, gt=0)
    # A person whose roles are only `viewer` may sign in without a second factor when true.
    viewer_second_factor_optional: bool = False
    # The address people open in their browser (links in invitations); default the gateway's own.
    public_url: str | None = None
    # OpenID Connect providers people sign in through, by name, as JSON:
    # {"nrcs": {"discovery_url": ..., "client_id": ..., "client_secret": ..., "organization_id": ...}}
    sign_in_providers: dict[str, SignInProvider] = Field(default_factory=dict)
    # A deleted person's names are erased from the referrals service's records at once, or, while
    # it cannot be reached, retried after this many seconds (doubling, up to an hour).
    erasure_retry_seconds: float = Field(default=30.0, gt=0)
    # Invitations stay valid this long.
    invitation_hours: float = Field(default=72.0, gt=0)

    # Shared counters for several replicas; unset keeps them in this process.
    redis_url: str | None = None
    redis_key_prefix: str = "waymark:gateway:"
    redis_timeout_seconds: float = 0.25

    # The circuit breaker opens after this many failures in a row, for this many seconds.
    circuit_failure_threshold: int = Field(default=5, ge=1)
    circuit_open_seconds: float = Field(default=5.0, gt=0)
    # Timeouts of particular routes, `METHOD /path/prefix=seconds` comma-separated, e.g.
    # `GET /v1/stats=30,POST /v1/referrals=5`; the longest matching prefix wins, any other
    # call waits WAYMARK_UPSTREAM_TIMEOUT_SECONDS.
    route_timeouts: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict)
    # The registry's bulk import (POST /v1/hsds/dataset) takes bodies up to this size and this
    # long, and the web app's import form as much file; every other route 1 MiB. Larger
    # directories go through `waymark registry import`.
    import_body_limit_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)
    import_timeout_seconds: float = Field(default=300.0, gt=0)
    # More concurrent calls than this to one upstream are refused with 503 at once.
    upstream_max_concurrent: int = Field(default=100, ge=1)

    @field_validator("rate_limit_by_role", "route_timeouts", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = (part.partition("=") for part in value.split(",") if part.strip())
            return {role.strip(): limit.strip() for role, _, limit in pairs}
        return value

    @field_validator("previous_signing_key_files", "trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def of(cls, settings: Settings) -> "GatewaySettings":
        """`settings` as gateway settings (the gateway's own ones from the environment)."""
        if isinstance(settings, cls):
            return settings
        return cls(**settings.model_dump(exclude_unset=True))
