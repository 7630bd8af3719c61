"""The notifications service: webhook subscriptions and the deliveries of events to them."""

from pathlib import Path

from fastapi import FastAPI
from waymark_kernel.auth import KeySource
from waymark_kernel.messaging.broker import Broker
from waymark_kernel.service import ServiceDefinition, create_service_app
from waymark_kernel.settings import Settings

from waymark_notifications.deliveries.dispatcher import Dispatcher
from waymark_notifications.deliveries.handlers import event_handlers
from waymark_notifications.deliveries.router import router as deliveries_router
from waymark_notifications.subscriptions.router import router as subscriptions_router
from waymark_notifications.webhooks.secret_box import SecretBox
from waymark_notifications.webhooks.url_guard import UrlGuard

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: Settings | None = None, *, broker: Broker | None = None,
    key_source: KeySource | None = None,
) -> FastAPI:
    settings = settings or Settings()
    guard = UrlGuard(allow_insecure=settings.webhook_allow_insecure)
    box = SecretBox(settings.encryption_key)  # refuses to start without a key
    dispatcher = Dispatcher(settings, box, guard)
    app = create_service_app(
        ServiceDefinition(
            name="notifications", title="Waymark notifications",
            routers=[subscriptions_router, deliveries_router], migrations=MIGRATIONS,
            handlers=event_handlers(dispatcher.wake), background=[dispatcher.run],
        ),
        settings, broker=broker, key_source=key_source,
    )
    app.state.url_guard = guard
    app.state.secret_box = box
    app.state.dispatcher = dispatcher
    return app
