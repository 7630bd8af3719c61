"""Wiring shared by every service's create_app(): database, broker, outbox relay, consumer,
token verification, migrations in standalone mode, and the background tasks of the service."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI

from waymark_kernel.auth import KeySource, TokenVerifier, http_jwks_source
from waymark_kernel.db import Database
from waymark_kernel.messaging.broker import Broker
from waymark_kernel.messaging.consumer import Consumer, SessionHandler
from waymark_kernel.messaging.factory import broker_from_settings
from waymark_kernel.messaging.outbox import OutboxRelay
from waymark_kernel.settings import Settings
from waymark_kernel.web import create_base_app

BackgroundTask = Callable[[FastAPI], Coroutine[Any, Any, None]]
STOP_RELAY_SECONDS = 2.0
STOP_TASKS_SECONDS = 1.0
log = logging.getLogger("waymark.service")


async def cancel_and_wait(tasks: list[asyncio.Task[None]], timeout: float = STOP_TASKS_SECONDS) -> None:
    """Cancels the tasks and waits for them, for up to `timeout` seconds: one that ignores its
    cancellation is left behind, named in the log, rather than holding the process."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("background task failed while stopping", exc_info=task.exception(),
                      extra={"task": task.get_name()})
    if pending:
        log.error("background tasks still running after being stopped",
                  extra={"tasks": sorted(task.get_name() for task in pending)})


@dataclass
class ServiceDefinition:
    name: str
    title: str
    routers: list[APIRouter]
    migrations: Path
    handlers: dict[str, SessionHandler] = field(default_factory=dict)
    background: list[BackgroundTask] = field(default_factory=list)


def create_service_app(
    definition: ServiceDefinition,
    settings: Settings,
    *,
    broker: Broker | None = None,
    key_source: KeySource | None = None,
) -> FastAPI:
    """`broker` and `key_source` are passed in when one process hosts several parts."""
    owns_broker = broker is None
    the_broker = broker or broker_from_settings(settings)
    database = Database(settings.database_url(definition.name))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.is_standalone:
            from waymark_kernel.migrations import upgrade  # Alembic costs 0.2 s: only to migrate

            await upgrade(database.url, definition.migrations, settings)
        if owns_broker:
            await the_broker.start()
        relay = app.state.outbox_relay = OutboxRelay(
            database, the_broker, poll_seconds=settings.outbox_poll_seconds
        )
        relaying = asyncio.create_task(relay.run(), name=f"{definition.name}:outbox")
        if definition.handlers:
            consumer = Consumer(definition.name, database, definition.handlers)
            await consumer.subscribe(the_broker, settings.queue_prefix)
        tasks = [
            asyncio.create_task(task(app), name=f"{definition.name}:{task.__name__}")
            for task in definition.background
        ]
        try:
            yield
        finally:
            # Publishing stops first, then consuming, then the rest; the database goes last.
            if not await relay.stop(STOP_RELAY_SECONDS):
                tasks.append(relaying)
            if owns_broker:
                await the_broker.close()
            await cancel_and_wait(tasks)
            await database.dispose()

    app = create_base_app(
        definition.name, title=definition.title, lifespan=lifespan,
        checks={"database": database.ping, "broker": the_broker.ping},
    )
    app.state.settings = settings
    app.state.database = database
    app.state.broker = the_broker
    app.state.token_verifier = TokenVerifier(
        key_source or http_jwks_source(settings.jwks_endpoint),
        issuer=settings.token_issuer, audience=settings.token_audience,
    )
    for router in definition.routers:
        app.include_router(router)
    return app
