from typing import Annotated

from fastapi import APIRouter, Query
from waymark_kernel.api import Cursor, Limit, Page, decode_cursor, encode_cursor
from waymark_kernel.auth import CurrentOrg
from waymark_kernel.db import SessionDep
from waymark_kernel.problems import Problem

from waymark_notifications.clock import as_utc
from waymark_notifications.feed import repository, service
from waymark_notifications.feed.schemas import EventTypeRead, FeedItem, FeedPage

router = APIRouter(prefix="/v1", tags=["Events"])

After = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the last page.")]


def _position(cursor: str | None) -> int | None:
    position = decode_cursor(cursor, 1)
    if position is not None and not isinstance(position[0], int):
        raise Problem(400, "The cursor is not one this API returned.", kind="invalid-cursor")
    return None if position is None else position[0]


@router.get("/event-types", response_model=Page[EventTypeRead], response_model_by_alias=True)
async def list_event_types(
    _organization_id: CurrentOrg, limit: Limit = 100, cursor: Cursor = None
) -> Page[EventTypeRead]:
    """The catalogue of events, each with the JSON Schema of its webhook body."""
    last = decode_cursor(cursor, 1)
    entries = [entry for entry in service.catalogue() if last is None or entry.type > str(last[0])]
    next_cursor = encode_cursor(entries[limit - 1].type) if len(entries) > limit else None
    return Page(items=entries[:limit], next_cursor=next_cursor)


@router.get("/events", response_model=FeedPage)
async def list_events(
    session: SessionDep, organization_id: CurrentOrg, limit: Limit = 100, after: After = None,
) -> FeedPage:
    """The caller's organisation's events, oldest first: what its webhooks would receive
    (whatever its subscriptions filter), kept for `WAYMARK_EVENT_RETENTION_DAYS`."""
    position = _position(after)
    await service.append_pending(session)
    rows = await repository.page_for(session, organization_id, position, limit)
    items = [
        FeedItem(id=str(row.event_id), type=row.event_type, timestamp=as_utc(row.occurred_at),
                 data=row.data)
        for row in rows
    ]
    last = rows[-1].position if rows else position
    return FeedPage(items=items, next_cursor=None if last is None else encode_cursor(last))
