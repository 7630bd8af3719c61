"""The registry service: organisations, their services and search, the taxonomy, the countries,
the HSDS API, bulk import and export, and HSDS sources synchronised on a schedule."""

from pathlib import Path

from fastapi import FastAPI
from waymark_kernel.auth import KeySource
from waymark_kernel.messaging import Broker
from waymark_kernel.service import ServiceDefinition, create_service_app
from waymark_kernel.settings import Settings

from waymark_registry.countries.router import router as countries
from waymark_registry.crosswalks.router import router as crosswalks
from waymark_registry.dataset.router import router as dataset
from waymark_registry.hsds.router import router as hsds
from waymark_registry.organizations.router import router as organizations
from waymark_registry.services.router import router as services
from waymark_registry.sources.router import router as sources
from waymark_registry.sources.scheduler import schedule_syncs
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
        routers=[organizations, services, taxonomy, countries, hsds, dataset, crosswalks, sources],
        migrations=MIGRATIONS,
        background=[schedule_syncs],
    )
    return create_service_app(
        definition, settings or Settings(), broker=broker, key_source=key_source
    )
