"""Two replicas of the referrals service sweep the same database at the same moment: each
overdue referral is announced once (the sweep takes its batch with FOR UPDATE SKIP LOCKED)."""

import asyncio
import json
import uuid
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import select, text
from sqlmodel import col

from services.referrals.tests.conftest import Flow
from waymark_kernel.clock import utcnow
from waymark_kernel.messaging.inprocess import InProcessBroker
from waymark_kernel.settings import Settings
from waymark_kernel.testing import TestIssuer
from waymark_referrals.main import create_app
from waymark_referrals.referrals import service
from waymark_referrals.referrals.models import Referral

RETENTION = timedelta(days=90)
OVERDUE = 12


async def sweep_until_done(app: FastAPI) -> int:
    """The replica's sweep in small batches until it finds nothing more; what it announced."""
    announced = 0
    while True:
        async with app.state.database.transaction() as session:
            found = await service.sweep(session, utcnow(), retention=RETENTION, batch_size=3)
        if not found:
            return announced
        announced += found
        await asyncio.sleep(0)


async def test_two_replicas_sweeping_together_announce_each_overdue_referral_once(
    app: FastAPI, settings: Settings, broker: InProcessBroker, issuer: TestIssuer, flow: Flow,
    dialect: str,
) -> None:
    other = create_app(settings, broker=broker, key_source=issuer.key_source)
    async with other.router.lifespan_context(other):
        sender, receiver, service_id = await flow.pair()
        case = await flow.case(sender)
        late = [
            (await flow.refer(sender, receiver, service_id, case=case, urgency="emergency"))["id"]
            for _ in range(OVERDUE)
        ]
        async with app.state.database.transaction() as session:  # two hours pass
            ids = [uuid.UUID(referral_id) for referral_id in late]
            for referral in (await session.execute(
                select(Referral).where(col(Referral.id).in_(ids))
            )).scalars():
                referral.respond_by -= timedelta(hours=2)

        first, second = await asyncio.gather(sweep_until_done(app), sweep_until_done(other))

        async with app.state.database.transaction() as session:
            bodies = (await session.execute(text(
                "SELECT body FROM outbox WHERE event_type = 'referral.overdue'"
            ))).scalars().all()
    announced = [json.loads(body)["data"]["referral_id"] for body in bodies]
    assert sorted(set(announced) & set(late)) == sorted(late)
    assert len([referral_id for referral_id in announced if referral_id in late]) == OVERDUE
    assert first + second == OVERDUE
    if dialect == "postgresql":  # SQLite has one writer at a time: one replica may take all
        assert first
        assert second
