"""The parts of the network and how each is built; the launcher's only knowledge of them."""

import base64
import os
import secrets
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from fastapi import FastAPI
from starlette.types import ASGIApp

from waymark_kernel.auth import KeySource
from waymark_kernel.files import create_private_folder
from waymark_kernel.messaging.broker import Broker
from waymark_kernel.settings import SERVICE_NAMES, Settings

PARTS = ("gateway", *SERVICE_NAMES)
PACKAGES = {
    "gateway": "waymark_gateway",
    "registry": "waymark_registry",
    "referrals": "waymark_referrals",
    "notifications": "waymark_notifications",
}


def migrations_of(part: str) -> Path:
    package_file = import_module(PACKAGES[part]).__file__
    if package_file is None:
        raise RuntimeError(f"{PACKAGES[part]} is not installed from files")
    return Path(package_file).parent / "migrations"


def create_service(
    name: str, settings: Settings, *, broker: Broker | None = None, key_source: KeySource | None = None
) -> FastAPI:
    module = import_module(f"{PACKAGES[name]}.main")
    app: FastAPI = module.create_app(settings, broker=broker, key_source=key_source)
    return app


def pages_of(settings: Settings) -> Callable[[ASGIApp], ASGIApp]:
    """The caseworker web app, served by the gateway and calling it in the same process."""
    from waymark_web.main import create_app as create_web  # only a gateway's process loads it

    return lambda gateway: create_web(settings, gateway)


def port_of(part: str, settings: Settings) -> int:
    return settings.port + PARTS.index(part)


def local_encryption_key_file(settings: Settings) -> Path:
    """Where the key-encryption key is kept when WAYMARK_ENCRYPTION_KEY does not give it."""
    return settings.data_dir / "encryption.key"


def with_local_keys(settings: Settings) -> Settings:
    """Development key-encryption key kept in the data folder when none is configured."""
    if settings.encryption_key:
        return settings
    create_private_folder(settings.data_dir)
    key_file = local_encryption_key_file(settings)
    if not key_file.exists():
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(base64.b64encode(secrets.token_bytes(32)).decode())
    return settings.model_copy(update={"encryption_key": key_file.read_text().strip()})
