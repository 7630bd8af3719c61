import uuid

from fastapi import APIRouter
from waymark_kernel.api import Cursor, Limit, position_after, split_page
from waymark_kernel.auth import CurrentOrg
from waymark_kernel.clock import as_utc
from waymark_kernel.db import SessionDep

from waymark_notifications.inbox import repository, service
from waymark_notifications.inbox.schemas import InboxPage, InboxRead

router = APIRouter(prefix="/v1/inbox", tags=["Inbox"])


@router.get("", response_model=InboxPage)
async def list_notifications(
    session: SessionDep, organization_id: CurrentOrg, unread: bool = False, limit: Limit = 50,
    cursor: Cursor = None,
) -> InboxPage:
    """The organisation's notifications, newest first (`unread=true`: only unread ones)."""
    rows = await repository.page_of_organization(
        session, organization_id, unread_only=unread, limit=limit + 1,
        after=position_after(cursor),
    )
    shown, next_cursor = split_page(rows, limit, lambda row: (as_utc(row.created_at), row.id))
    return InboxPage(
        items=[InboxRead.model_validate(row) for row in shown], next_cursor=next_cursor,
        unread_count=await repository.unread_count(session, organization_id),
    )


@router.post("/{notification_id}/read", response_model=InboxRead)
async def mark_read(
    notification_id: uuid.UUID, session: SessionDep, organization_id: CurrentOrg
) -> InboxRead:
    """Mark a notification read (again: no change)."""
    notification = await service.visible(session, organization_id, notification_id)
    return InboxRead.model_validate(await service.mark_read(session, notification))
