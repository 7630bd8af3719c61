import uuid

from fastapi import APIRouter, Response, status
from waymark_kernel.api import Cursor, Limit, Page, page_of, position_after
from waymark_kernel.auth import CurrentIdentity, CurrentOrg
from waymark_kernel.clock import as_utc
from waymark_kernel.db import SessionDep

from waymark_notifications.dependencies import SecretBoxDep, UrlGuardDep
from waymark_notifications.subscriptions import repository, service
from waymark_notifications.subscriptions.schemas import (
    SubscriptionCreate,
    SubscriptionRead,
    SubscriptionUpdate,
    SubscriptionWithSecret,
)

router = APIRouter(prefix="/v1/subscriptions", tags=["Webhook subscriptions"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SubscriptionWithSecret)
async def create_subscription(
    body: SubscriptionCreate, session: SessionDep, identity: CurrentIdentity,
    organization_id: CurrentOrg, guard: UrlGuardDep, box: SecretBoxDep, response: Response,
) -> SubscriptionWithSecret:
    """Subscribe a URL of the caller's organisation (org_admin); the secret is shown once."""
    service.require_admin(identity, organization_id)
    subscription, secret = await service.create(session, guard, box, organization_id, body)
    response.headers["Location"] = f"/v1/subscriptions/{subscription.id}"
    return SubscriptionWithSecret(
        **SubscriptionRead.model_validate(subscription).model_dump(), secret=secret
    )


@router.get("", response_model=Page[SubscriptionRead])
async def list_subscriptions(
    session: SessionDep, organization_id: CurrentOrg, limit: Limit = 50, cursor: Cursor = None,
) -> Page[SubscriptionRead]:
    """The caller's organisation's subscriptions, newest first."""
    rows = await repository.page_of_organization(
        session, organization_id, limit + 1, position_after(cursor)
    )
    return page_of(
        rows, limit, SubscriptionRead.model_validate, lambda row: (as_utc(row.created_at), row.id)
    )


@router.get("/{subscription_id}", response_model=SubscriptionRead)
async def get_subscription(
    subscription_id: uuid.UUID, session: SessionDep, organization_id: CurrentOrg
) -> SubscriptionRead:
    return SubscriptionRead.model_validate(
        await service.visible(session, organization_id, subscription_id)
    )


@router.patch("/{subscription_id}", response_model=SubscriptionRead)
async def update_subscription(
    subscription_id: uuid.UUID, body: SubscriptionUpdate, session: SessionDep,
    identity: CurrentIdentity, organization_id: CurrentOrg, guard: UrlGuardDep,
) -> SubscriptionRead:
    """Change url, event_types, description or `enabled` (re-enabling clears disabled_reason)."""
    subscription = await service.visible(session, organization_id, subscription_id)
    service.require_admin(identity, organization_id)
    return SubscriptionRead.model_validate(await service.update(session, guard, subscription, body))


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_subscription(
    subscription_id: uuid.UUID, session: SessionDep, identity: CurrentIdentity,
    organization_id: CurrentOrg,
) -> Response:
    """Delete it with its pending deliveries and delivery log."""
    subscription = await service.visible(session, organization_id, subscription_id)
    service.require_admin(identity, organization_id)
    await service.delete(session, subscription)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{subscription_id}/rotate-secret", response_model=SubscriptionWithSecret)
async def rotate_secret(
    subscription_id: uuid.UUID, session: SessionDep, identity: CurrentIdentity,
    organization_id: CurrentOrg, box: SecretBoxDep,
) -> SubscriptionWithSecret:
    """A new secret, shown once; the old one keeps signing beside it for 24 hours."""
    subscription = await service.visible(session, organization_id, subscription_id)
    service.require_admin(identity, organization_id)
    secret = await service.rotate_secret(session, box, subscription)
    return SubscriptionWithSecret(
        **SubscriptionRead.model_validate(subscription).model_dump(), secret=secret
    )
