from typing import Annotated

from fastapi import APIRouter, Query
from waymark_kernel.api import Cursor, Limit, Page, position_after
from waymark_kernel.auth import CurrentOrg
from waymark_kernel.clock import as_utc
from waymark_kernel.cursors import MAX_CURSOR_LENGTH, CursorFormat, Integer, Text
from waymark_kernel.db import SessionDep

from waymark_notifications.feed import repository, service
from waymark_notifications.feed.schemas import EventTypeRead, FeedItem, FeedPage

router = APIRouter(prefix="/v1", tags=["Events"])

After = Annotated[str | None, Query(
    max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the last page."
)]
BY_TYPE = CursorFormat(Text(max_length=100))
BY_POSITION = CursorFormat(Integer(minimum=0, maximum=2**63 - 1))  # a BIGINT sequence


@router.get("/event-types", response_model=Page[EventTypeRead], response_model_by_alias=True)
async def list_event_types(
    _organization_id: CurrentOrg, limit: Limit = 100, cursor: Cursor = None
) -> Page[EventTypeRead]:
    """The catalogue of events, each with the JSON Schema of its webhook body."""
    last = position_after(cursor, BY_TYPE)
    entries = [entry for entry in service.catalogue() if last is None or entry.type > last[0]]
    next_cursor = BY_TYPE.encode(entries[limit - 1].type) if len(entries) > limit else None
    return Page(items=entries[:limit], next_cursor=next_cursor)


@router.get("/events", response_model=FeedPage)
async def list_events(
    session: SessionDep, organization_id: CurrentOrg, limit: Limit = 100, after: After = None,
) -> FeedPage:
    """The caller's organisation's events, oldest first: what its webhooks would receive
    (whatever its subscriptions filter), kept for `WAYMARK_EVENT_RETENTION_DAYS`."""
    after_position = position_after(after, BY_POSITION)
    position = None if after_position is None else after_position[0]
    await service.append_pending(session)
    rows = await repository.page_for(session, organization_id, position, limit)
    items = [
        FeedItem(id=str(row.event_id), type=row.event_type, timestamp=as_utc(row.occurred_at),
                 data=row.data)
        for row in rows
    ]
    last = rows[-1].position if rows else position
    return FeedPage(items=items, next_cursor=None if last is None else BY_POSITION.encode(last))
