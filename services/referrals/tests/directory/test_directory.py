import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.referrals.tests.conftest import Network
from waymark_kernel.clock import utcnow
from waymark_kernel.events import (
    CloudEvent,
    EventData,
    OrganizationChanged,
    ServiceChanged,
    ServiceDeleted,
)
from waymark_referrals.directory import repository

REGISTRY = "waymark/registry"
Found = TypeVar("Found")


def at(event_type: str, data: EventData, minutes: int) -> CloudEvent:
    event = CloudEvent.of(REGISTRY, event_type, data)
    return event.model_copy(update={"time": utcnow() + timedelta(minutes=minutes)})


async def read(
    app: FastAPI, find: Callable[[AsyncSession, uuid.UUID], Awaitable[Found | None]],
    object_id: uuid.UUID,
) -> Found:
    async with app.state.database.transaction() as session:
        found = await find(session, object_id)
    assert found is not None, f"{object_id} is not in the directory"
    return found


async def test_organisation_changes_apply_in_event_time_order(
    app: FastAPI, network: Network
) -> None:
    organization_id = uuid.uuid4()

    def change(name: str, verified: bool) -> OrganizationChanged:
        return OrganizationChanged(
            organization_id=organization_id, name=name, type="cso", country="JO", verified=verified
        )

    await network.publish_event(at("organization.created", change("First", False), 0))
    await network.publish_event(at("organization.updated", change("Third", True), 2))
    await network.publish_event(at("organization.updated", change("Second", False), 1))  # late
    stored = await read(app, repository.find_organization, organization_id)
    assert (stored.name, stored.country, stored.verified) == ("Third", "JO", True)


async def test_a_deleted_service_stays_deleted(app: FastAPI, network: Network) -> None:
    owner = await network.organization("LB")
    service_id = await network.service(owner, response_time_hours=12)
    stored = await read(app, repository.find_service, service_id)
    assert stored.takes_referrals
    assert stored.response_time_hours == 12

    update = ServiceChanged(
        service_id=service_id, organization_id=owner.id, status="active", accepts_referrals=True,
        countries=["LB"], categories=[],
    )
    await network.delete_service(owner, service_id)
    await network.publish_event(at("service.updated", update, 5))  # arrives after the deletion
    assert (await read(app, repository.find_service, service_id)).deleted

    overtaken = uuid.uuid4()  # the deletion overtakes the creation
    await network.publish(
        "service.deleted", ServiceDeleted(service_id=overtaken, organization_id=owner.id)
    )
    await network.publish("service.created", update.model_copy(update={"service_id": overtaken}))
    assert not (await read(app, repository.find_service, overtaken)).takes_referrals

