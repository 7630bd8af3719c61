import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from waymark_kernel.api import RequestBody
from waymark_kernel.clock import UtcDateTime
from waymark_kernel.text import shown_as_a_name

from waymark_notifications.subscriptions.patterns import is_known_pattern


def _known_patterns(patterns: list[str]) -> list[str]:
    unknown = [pattern for pattern in patterns if not is_known_pattern(pattern)]
    if unknown:
        raise ValueError(
            f"unknown event types {unknown}: use catalogue types, a family like "
            "'referral.*', or '*'"
        )
    return list(dict.fromkeys(patterns))


Url = Annotated[str, Field(min_length=1, max_length=2048, examples=["https://partner.example/hooks"])]
EventTypes = Annotated[
    list[Annotated[str, Field(max_length=100)]],
    Field(min_length=1, max_length=50, examples=[["referral.*", "case.consent_withdrawn"]]),
    AfterValidator(_known_patterns),
]
Description = Annotated[str, Field(max_length=500), AfterValidator(shown_as_a_name)]


class SubscriptionCreate(RequestBody):
    url: Url
    event_types: EventTypes
    description: Description | None = None


class SubscriptionUpdate(RequestBody):
    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = None

    @model_validator(mode="after")
    def _only_description_may_be_null(self) -> "SubscriptionUpdate":
        for name in ("url", "event_types", "enabled"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class SubscriptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(
        description="Why it was disabled: `endpoint_gone` (the endpoint answered 410), "
        "`failed_for_5_days`, or `disabled_by_organization`."
    )
    created_at: UtcDateTime
    updated_at: UtcDateTime


class SubscriptionWithSecret(SubscriptionRead):
    secret: str = Field(
        description="Signing secret (`whsec_` + base64). Shown only in this response: keep it."
    )
