"""The notifications service: webhook subscriptions and deliveries, the event feed and the
inbox of each organisation."""

from pathlib import Path

from fastapi import FastAPI

from waymark_kernel.auth import KeySource
from waymark_kernel.messaging.broker import Broker
from waymark_kernel.service import ServiceDefinition, create_service_app
from waymark_kernel.settings import Settings
from waymark_notifications.deliveries.dispatcher import Dispatcher
from waymark_notifications.deliveries.handlers import delivery_handler
from waymark_notifications.deliveries.router import router as deliveries_router
from waymark_notifications.event_steps import every_event
from waymark_notifications.feed.appender import append_periodically
from waymark_notifications.feed.handlers import record_in_feed
from waymark_notifications.feed.router import router as feed_router
from waymark_notifications.inbox.handlers import inbox_handler
from waymark_notifications.inbox.mailer import Mailer
from waymark_notifications.inbox.router import router as inbox_router
from waymark_notifications.retention import retention_task
from waymark_notifications.subscriptions.router import router as subscriptions_router
from waymark_notifications.webhooks.secret_box import SecretBox
from waymark_notifications.webhooks.url_guard import UrlGuard

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: Settings | None = None, *, broker: Broker | None = None,
    key_source: KeySource | None = None,
) -> FastAPI:
    settings = settings or Settings()
    guard = UrlGuard(
        allow_insecure=settings.webhook_allow_insecure, high_ports=settings.webhook_ports
    )
    box = SecretBox(settings.encryption_key)  # refuses to start without a key
    dispatcher = Dispatcher(settings, box, guard)
    mailer = Mailer(settings)
    app = create_service_app(
        ServiceDefinition(
            name="notifications", title="Waymark notifications",
            routers=[subscriptions_router, deliveries_router, feed_router, inbox_router],
            migrations=MIGRATIONS,
            handlers=every_event(
                delivery_handler(dispatcher), inbox_handler(mailer.wake), record_in_feed
            ),
            background=[
                dispatcher.run, mailer.run, append_periodically, retention_task(settings)
            ],
        ),
        settings, broker=broker, key_source=key_source,
    )
    app.state.url_guard = guard
    app.state.secret_box = box
    app.state.dispatcher = dispatcher
    return app
