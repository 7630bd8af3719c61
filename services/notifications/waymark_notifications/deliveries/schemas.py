import uuid

from pydantic import BaseModel, ConfigDict, Field, model_validator
from waymark_kernel.api import RequestBody
from waymark_kernel.clock import UtcDateTime


class DeliveryAttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    delivery_id: uuid.UUID = Field(
        description="Also the `webhook-id` header, the same on every attempt of a delivery."
    )
    event_id: uuid.UUID
    event_type: str
    attempt: int = Field(description="1 for the first attempt of the delivery, then 2, 3…")
    attempted_at: UtcDateTime
    status_code: int | None = Field(description="The endpoint's HTTP status; null if none came.")
    duration_ms: int
    succeeded: bool
    error: str | None = Field(description="Why the attempt failed, in short.")
    response_excerpt: str | None = Field(description="The first 200 characters of the answer.")


class ReplayRequest(RequestBody):
    since: UtcDateTime = Field(description="Start of the window of event times (included).")
    until: UtcDateTime | None = Field(
        default=None, description="End of the window (excluded); default now."
    )

    @model_validator(mode="after")
    def _ordered(self) -> "ReplayRequest":
        if self.until is not None and self.until <= self.since:
            raise ValueError("until must be later than since")
        return self


class ReplayResult(BaseModel):
    scheduled: int = Field(
        description="Deliveries scheduled again (at most 10,000 a call: replay the rest with a "
        "later `since`)."
    )
