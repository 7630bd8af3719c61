"""The registry service: organisations, their services and search, the taxonomy, the countries."""

from pathlib import Path

from fastapi import FastAPI
from waymark_kernel.auth import KeySource
from waymark_kernel.messaging import Broker
from waymark_kernel.service import ServiceDefinition, create_service_app
from waymark_kernel.settings import Settings

from waymark_registry.countries.router import router as countries
from waymark_registry.dataset.router import router as dataset
from waymark_registry.hsds.router import router as hsds
from waymark_registry.organizations.router import router as organizations
from waymark_registry.services.router import router as services
from waymark_registry.taxonomy.router import router as taxonomy

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: Settings | None = None,
    *,
    broker: Broker | None = None,
    key_source: KeySource | None = None,
) -> FastAPI:
    definition = ServiceDefinition(
        name="registry",
        title="Waymark registry",
        routers=[organizations, services, taxonomy, countries, hsds, dataset],
        migrations=MIGRATIONS,
    )
    return create_service_app(
        definition, settings or Settings(), broker=broker, key_source=key_source
    )
