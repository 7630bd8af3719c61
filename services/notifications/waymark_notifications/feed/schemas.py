from typing import Any

from pydantic import BaseModel, Field
from waymark_kernel.clock import UtcDateTime


class FeedItem(BaseModel):
    id: str = Field(
        description="The event's id (a webhook's `webhook-id` differs per subscription)."
    )
    type: str
    timestamp: UtcDateTime
    data: dict[str, Any]


class FeedPage(BaseModel):
    items: list[FeedItem]
    next_cursor: str | None = Field(
        description="Pass it as `after` to get what follows; it stays the same while there is "
        "nothing new, so a partner keeps polling with it."
    )


class EventTypeRead(BaseModel):
    type: str
    schema_: dict[str, Any] = Field(
        alias="schema", description="JSON Schema of the webhook body `{type, timestamp, data}`."
    )

    model_config = {"populate_by_name": True}
