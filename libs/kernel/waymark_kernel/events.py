"""The CloudEvents 1.0 envelope and the typed contracts of every event type.

Payloads are thin: ids, statuses, organisation ids, countries. Never personal data.
"""

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from waymark_kernel.clock import utcnow


class EventData(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrganizationChanged(EventData):
    organization_id: uuid.UUID
    name: str
    type: str
    country: str
    verified: bool
    email: str | None = None  # the public directory contact, for notification emails
    changed_fields: list[str] = Field(
        default_factory=list,
        description="The fields an update changed (names only); empty for a creation or a "
        "re-announcement.",
    )


class ServiceChanged(EventData):
    service_id: uuid.UUID
    organization_id: uuid.UUID
    status: str
    accepts_referrals: bool
    countries: list[str]
    categories: list[str]
    response_time_hours: int | None = None


class ServiceDeleted(EventData):
    service_id: uuid.UUID
    organization_id: uuid.UUID


class ReferralChanged(EventData):
    referral_id: uuid.UUID
    sender_org_id: uuid.UUID
    receiver_org_id: uuid.UUID
    service_id: uuid.UUID | None = None
    status: str
    from_country: str
    to_country: str
    urgency: str
    version: int


class ReferralCommentAdded(EventData):
    referral_id: uuid.UUID
    comment_id: uuid.UUID
    sender_org_id: uuid.UUID
    receiver_org_id: uuid.UUID
    author_org_id: uuid.UUID


class CaseConsentWithdrawn(EventData):
    case_id: uuid.UUID
    organization_id: uuid.UUID
    cancelled_referral_ids: list[uuid.UUID]


class SubscriptionDisabled(EventData):
    subscription_id: uuid.UUID
    organization_id: uuid.UUID
    reason: str


class WebhookTest(EventData):
    subscription_id: uuid.UUID
    organization_id: uuid.UUID


REFERRAL_STATUS_EVENTS = (
    "requested", "received", "accepted", "rejected", "in_progress", "on_hold",
    "completed", "failed", "cancelled", "overdue",
)

EVENT_TYPES: dict[str, type[EventData]] = {
    "organization.created": OrganizationChanged,
    "organization.updated": OrganizationChanged,
    "service.created": ServiceChanged,
    "service.updated": ServiceChanged,
    "service.deleted": ServiceDeleted,
    **{f"referral.{status}": ReferralChanged for status in REFERRAL_STATUS_EVENTS},
    "referral.comment_added": ReferralCommentAdded,
    "case.consent_withdrawn": CaseConsentWithdrawn,
    "subscription.disabled": SubscriptionDisabled,
    "webhook.test": WebhookTest,
}


def _absent(value: object) -> bool:
    return value is None


class CloudEvent(BaseModel):
    """CloudEvents 1.0 structured-mode envelope; with tracing on, it carries the publishing
    span's W3C trace context in the distributed-tracing extension's attributes."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    specversion: Literal["1.0"] = "1.0"
    type: str
    time: datetime = Field(default_factory=utcnow)
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]
    traceparent: str | None = Field(default=None, exclude_if=_absent)
    tracestate: str | None = Field(default=None, exclude_if=_absent)

    @classmethod
    def of(cls, source: str, event_type: str, data: EventData) -> "CloudEvent":
        expected = EVENT_TYPES[event_type]
        if not isinstance(data, expected):
            raise TypeError(f"{event_type} carries {expected.__name__}, not {type(data).__name__}")
        return cls(source=source, type=event_type, data=data.model_dump(mode="json"))

    def typed_data(self) -> EventData:
        return EVENT_TYPES[self.type].model_validate(self.data)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, body: bytes) -> "CloudEvent":
        return cls.model_validate_json(body)
