"""Every organisation announced again as `organization.updated`, through the outbox like any
change, so that a consumer which started after they were created catches up: notifications
learns the contact addresses it emails, a rebuilt read-model is complete again."""

from waymark_kernel.db import Database

from waymark_registry.organizations import repository, service

BATCH = 500


async def announce_all(database: Database, batch: int = BATCH) -> int:
    """Returns how many were announced; a transaction per batch keeps each one short."""
    announced, position = 0, None
    while True:
        async with database.transaction() as session:
            organizations = await repository.search(
                session, q=None, country=None, type=None, verified=None, limit=batch,
                position=position,
            )
            for organization in organizations:
                await service.announce(session, "organization.updated", organization)
        if not organizations:
            return announced
        announced += len(organizations)
        position = (organizations[-1].name, organizations[-1].id)
