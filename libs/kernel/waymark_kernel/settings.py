"""Every setting is an environment variable prefixed WAYMARK_ (a .env file works too)."""

import os
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from waymark_kernel.logging import LogFormat

DEVELOPMENT_ADMIN_SECRET = "waymark-development-admin-secret"  # documented in the README
SERVICE_NAMES = ("registry", "referrals", "notifications")
# The OpenTelemetry exporter's own variables; either, when set, turns tracing on by default.
OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class RunMode(StrEnum):
    standalone = "standalone"
    distributed = "distributed"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WAYMARK_", env_file=".env", extra="ignore")

    mode: RunMode = RunMode.standalone
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./var")
    # Processes of each part that `waymark up` starts, sharing the part's port.
    replicas: int = Field(default=1, ge=1, le=32)
    admin_client_secret: str | None = None
    seed_demo: bool | None = None

    # Databases: explicit URLs win; otherwise SQLite files (standalone) or one PostgreSQL
    # database per service on postgres_url (distributed).
    postgres_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432"
    database_prefix: str = "waymark"
    registry_database_url: str | None = None
    referrals_database_url: str | None = None
    notifications_database_url: str | None = None
    gateway_database_url: str | None = None

    broker_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    event_exchange: str = "waymark.events"
    queue_prefix: str = "waymark"
    consumer_prefetch: int = 32
    delivery_limit: int = 5
    outbox_poll_seconds: float = 1.0

    # Where the services find each other in distributed mode (defaults: WAYMARK_PORT + 1..3).
    registry_url: str | None = None
    referrals_url: str | None = None
    notifications_url: str | None = None
    jwks_url: str | None = None
    upstream_timeout_seconds: float = 10.0

    token_issuer: str = "waymark"
    token_audience: str = "waymark-api"
    token_ttl_seconds: int = 900
    # The built-in issuer's Ed25519 key (PEM); default DATA_DIR/gateway-signing-key.pem.
    # Gateway replicas must share one key file.
    signing_key_file: Path | None = None

    # Key-encryption key for personal data, base64 of 32 bytes; standalone generates one.
    encryption_key: str | None = None
    # Keys that sealed older records, comma-separated; each is known by its key id.
    encryption_previous_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # How long a receiver keeps a referral's shared person data after the referral ended.
    referral_retention_days: int = 90

    webhook_allow_insecure: bool = False
    # NoDecode: the environment gives "5,300,1800", not JSON; the validator splits it.
    webhook_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5, 300, 1800, 7200, 18000, 36000, 36000]
    )
    webhook_timeout_seconds: float = 15.0
    # Ports a webhook URL may name besides 443 (and 80 when insecure): "LOW-HIGH" within the
    # unprivileged range, so that no URL reaches SSH, SMTP or another system service.
    webhook_ports: Annotated[tuple[int, int], NoDecode] = (1024, 65535)
    # A subscription failing without a success for this long is disabled (default 5 days).
    webhook_disable_after_seconds: float = 432_000.0
    # How long the event feed keeps events, and deliveries keep their request bodies.
    event_retention_days: float = 30.0
    delivery_body_retention_days: float = 30.0
    # Notification email for urgent and overdue referrals; off unless smtp_host is given.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_sender: str = "waymark@localhost"
    smtp_starttls: bool = False
    # A failed email is tried again after this, doubling each time up to the maximum (±10 %).
    smtp_retry_seconds: float = 5.0
    smtp_retry_max_seconds: float = 3600.0
    # The registry's scheduled HSDS sources: how often it looks for one that is due, and
    # whether a source may be http or reach loopback and private addresses (tests, a local
    # publisher; never in production: it opens the network behind the registry to its admins).
    hsds_sync_check_seconds: float = 30.0
    hsds_source_allow_insecure: bool = False
    rate_limit: str = "600/minute"
    log_level: str = "INFO"
    # text (one line a record) at a terminal, JSON otherwise; or either, always.
    log_format: LogFormat = LogFormat.auto
    # OpenTelemetry tracing over OTLP/HTTP, configured by the standard OTEL_* variables: on
    # when true; when not given, on if one of OTLP_ENDPOINT_VARIABLES is set.
    tracing: bool | None = None

    @field_validator("encryption_previous_keys", mode="before")
    @classmethod
    def _comma_separated_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [float(part) for part in value.strip().strip("[]").split(",") if part.strip()]
        return value

    @field_validator("webhook_ports", mode="before")
    @classmethod
    def _port_range(cls, value: object) -> object:
        if isinstance(value, str):
            low, _, high = value.partition("-")
            return int(low), int(high or low)
        return value

    @field_validator("webhook_ports")
    @classmethod
    def _unprivileged_ports(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1024 <= low <= high <= 65535:
            raise ValueError("give a range of ports within 1024-65535, e.g. 8443-8443")
        return value

    @property
    def is_standalone(self) -> bool:
        return self.mode is RunMode.standalone

    @property
    def tracing_enabled(self) -> bool:
        if self.tracing is not None:
            return self.tracing
        return any(os.environ.get(name) for name in OTLP_ENDPOINT_VARIABLES)

    @cached_property
    def admin_secret(self) -> str:
        if self.admin_client_secret:
            return self.admin_client_secret
        if self.is_standalone:
            return DEVELOPMENT_ADMIN_SECRET
        raise RuntimeError("WAYMARK_ADMIN_CLIENT_SECRET is required in distributed mode")

    @property
    def should_seed_demo(self) -> bool:
        return self.is_standalone if self.seed_demo is None else self.seed_demo

    def database_url(self, component: str) -> str:
        explicit = getattr(self, f"{component}_database_url")
        if explicit:
            return explicit
        if self.is_standalone:
            return f"sqlite+aiosqlite:///{self.data_dir.resolve() / f'{component}.db'}"
        return f"{self.postgres_url.rstrip('/')}/{self.database_prefix}_{component}"

    def service_url(self, service: str) -> str:
        explicit = getattr(self, f"{service}_url")
        if explicit:
            return explicit.rstrip("/")
        return f"http://{self.host}:{self.port + 1 + SERVICE_NAMES.index(service)}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def jwks_endpoint(self) -> str:
        return self.jwks_url or f"{self.gateway_url}/.well-known/jwks.json"
