import uuid

from pydantic import BaseModel, ConfigDict, Field
from waymark_kernel.clock import UtcDateTime


class InboxRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    summary: str = Field(description="One line for a caseworker; never personal data.")
    referral_id: uuid.UUID | None
    subscription_id: uuid.UUID | None
    reason: str | None = Field(description="Why a subscription was disabled.")
    urgency: str | None
    created_at: UtcDateTime
    read_at: UtcDateTime | None


class InboxPage(BaseModel):
    items: list[InboxRead]
    next_cursor: str | None = None
    unread_count: int = Field(description="Unread notifications of the organisation in all.")
