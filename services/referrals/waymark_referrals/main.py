"""The referrals service: cases, consent, referrals, and the directory kept from registry events."""

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from waymark_kernel.auth import KeySource
from waymark_kernel.clock import utcnow
from waymark_kernel.messaging.broker import Broker
from waymark_kernel.service import ServiceDefinition, create_service_app
from waymark_kernel.settings import Settings

from waymark_referrals import rotation
from waymark_referrals.actors.router import router as actors_router
from waymark_referrals.cases.router import router as cases_router
from waymark_referrals.comments.router import router as comments_router
from waymark_referrals.crypto import cipher_from_settings
from waymark_referrals.directory.handlers import HANDLERS as DIRECTORY_HANDLERS
from waymark_referrals.disclosures.router import router as disclosures_router
from waymark_referrals.referrals import service as referrals
from waymark_referrals.referrals.router import router as referrals_router
from waymark_referrals.stats.router import router as stats_router

SWEEP_SECONDS = 30.0
log = logging.getLogger("waymark.referrals")


async def sweep_deadlines(app: FastAPI) -> None:
    """Announces overdue referrals, erases snapshots past retention, forgets expired
    idempotency keys and re-wraps records still under an older key, every half minute."""
    retention = timedelta(days=app.state.settings.referral_retention_days)
    while True:
        try:
            async with app.state.database.transaction() as session:
                await referrals.sweep(session, utcnow(), retention=retention)
            async with app.state.database.transaction() as session:
                await rotation.rewrap_batch(session, app.state.cipher)
        except Exception:
            log.exception("deadline sweep failed; trying again later")
        await asyncio.sleep(SWEEP_SECONDS)


def create_app(
    settings: Settings | None = None, *, broker: Broker | None = None,
    key_source: KeySource | None = None,
) -> FastAPI:
    settings = settings or Settings()
    cipher = cipher_from_settings(settings)
    app = create_service_app(
        ServiceDefinition(
            name="referrals", title="Waymark referrals",
            routers=[
                cases_router, disclosures_router, referrals_router, comments_router, stats_router,
                actors_router,
            ],
            migrations=Path(__file__).parent / "migrations",
            handlers=DIRECTORY_HANDLERS,
            background=[sweep_deadlines],
        ),
        settings, broker=broker, key_source=key_source,
    )
    app.state.cipher = cipher
    return app
