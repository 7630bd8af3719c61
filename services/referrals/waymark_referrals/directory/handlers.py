"""Keeps the directory read-model from the registry's events."""

from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.events import CloudEvent, OrganizationChanged, ServiceChanged, ServiceDeleted
from waymark_kernel.messaging.consumer import SessionHandler
from waymark_referrals.directory import repository


async def organization_changed(session: AsyncSession, event: CloudEvent) -> None:
    await repository.save_organization(
        session, OrganizationChanged.model_validate(event.data), event.time
    )


async def service_changed(session: AsyncSession, event: CloudEvent) -> None:
    await repository.save_service(session, ServiceChanged.model_validate(event.data), event.time)


async def service_deleted(session: AsyncSession, event: CloudEvent) -> None:
    await repository.delete_service(session, ServiceDeleted.model_validate(event.data), event.time)


HANDLERS: dict[str, SessionHandler] = {
    "organization.created": organization_changed,
    "organization.updated": organization_changed,
    "service.created": service_changed,
    "service.updated": service_changed,
    "service.deleted": service_deleted,
}
