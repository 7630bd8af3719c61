import uuid

from fastapi import APIRouter
from waymark_kernel.api import Cursor, Limit, decode_cursor, encode_cursor
from waymark_kernel.auth import CurrentOrg
from waymark_kernel.db import SessionDep

from waymark_notifications.cursors import timestamp_and_id
from waymark_notifications.inbox import repository, service
from waymark_notifications.inbox.schemas import InboxPage, InboxRead

router = APIRouter(prefix="/v1/inbox", tags=["Inbox"])


@router.get("", response_model=InboxPage)
async def list_notifications(
    session: SessionDep, organization_id: CurrentOrg, unread: bool = False, limit: Limit = 50,
    cursor: Cursor = None,
) -> InboxPage:
    """The organisation's notifications, newest first (`unread=true`: only unread ones)."""
    after = timestamp_and_id(decode_cursor(cursor, 2))
    rows = await repository.page_of_organization(
        session, organization_id, unread_only=unread, limit=limit + 1, after=after
    )
    items = [InboxRead.model_validate(row) for row in rows[:limit]]
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else None
    return InboxPage(
        items=items, next_cursor=next_cursor,
        unread_count=await repository.unread_count(session, organization_id),
    )


@router.post("/{notification_id}/read", response_model=InboxRead)
async def mark_read(
    notification_id: uuid.UUID, session: SessionDep, organization_id: CurrentOrg
) -> InboxRead:
    """Mark a notification read (again: no change)."""
    notification = await service.visible(session, organization_id, notification_id)
    return InboxRead.model_validate(await service.mark_read(session, notification))
