import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_validator,
    model_serializer,
    model_validator,
)

from waymark_kernel.api import RequestBody
from waymark_referrals.actors.schemas import Actor
from waymark_referrals.cases.schemas import FreeText, Person, PersonField
from waymark_referrals.referrals.states import CARRIES_OUTCOME, NEEDS_REASON, Status
from waymark_referrals.vocabulary import PERSONAL_DATA, CategoryCode


class Urgency(StrEnum):
    emergency = "emergency"
    high = "high"
    normal = "normal"
    low = "low"


ANSWER_WITHIN_HOURS = {Urgency.emergency: 1, Urgency.high: 24, Urgency.normal: 72, Urgency.low: 168}


class MigrationStage(StrEnum):
    origin = "origin"
    transit = "transit"
    destination = "destination"
    return_ = "return"


class OnwardReferralCreate(RequestBody):
    """A new leg from the receiver of a referral; the case is the parent's."""

    receiver_org_id: uuid.UUID
    service_id: uuid.UUID | None = None
    migration_stage: MigrationStage
    categories: list[CategoryCode] = Field(default_factory=list, max_length=20)
    urgency: Urgency = Urgency.normal
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ] = Field(
        description="Why the person is referred; free text, personal data (sealed at rest).",
        json_schema_extra=PERSONAL_DATA,
    )
    shared_fields: list[PersonField] = Field(
        default_factory=list, max_length=len(PersonField),
        description="The person fields the receiver may see; nothing else is shared.",
    )
    status: Literal[Status.draft, Status.requested] = Status.requested

    @field_validator("shared_fields")
    @classmethod
    def _once_each(cls, fields: list[PersonField]) -> list[PersonField]:
        return list(dict.fromkeys(fields))


class ReferralCreate(OnwardReferralCreate):
    case_id: uuid.UUID


class SharedPerson(Person):
    """Only the fields that were shared: the others are absent, not null."""

    @model_serializer(mode="wrap")
    # No return annotation: pydantic would document it as the schema of what is returned, where
    # the API document shows Person's fields.
    def _shared_only(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        return {key: value for key, value in handler(self).items() if key in self.model_fields_set}


WITHHELD_TEXT = (
    "Free text is personal data (sealed at rest), for the sender and the receiver only: null "
    "for the other organisation than the case's owner once the person's data was withdrawn from "
    "the referral or erased after its retention period, and for the network admin. A code "
    "(a RejectionReason, a FailureOutcome, `consent_withdrawn`) is shown to every reader."
)


class ReferralTexts(BaseModel):
    """What is sealed (encrypted) in a referral's row: its free text, not the codes."""

    reason: str | None = None
    status_reason: str | None = None
    outcome: str | None = None


class TransitionTexts(BaseModel):
    """A transition's reason, note and outcome; sealed (encrypted) in its history row, but for
    the codes (see split_code)."""

    reason: str | None = None
    note: str | None = None
    outcome: str | None = None


def withheld(description: str = WITHHELD_TEXT) -> Any:  # Field's own return type
    return Field(description=description, json_schema_extra=PERSONAL_DATA)


class ReferralRead(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    sender_org_id: uuid.UUID
    receiver_org_id: uuid.UUID
    service_id: uuid.UUID | None
    from_country: str
    to_country: str
    migration_stage: MigrationStage
    categories: list[str]
    urgency: Urgency
    reason: str | None = withheld()
    shared_fields: list[PersonField]
    person: SharedPerson | None = Field(
        description="The shared fields, for sender and receiver only, while a legal basis holds."
    )
    status: Status
    status_reason: str | None = withheld()
    outcome: str | None = withheld()
    parent_referral_id: uuid.UUID | None
    respond_by: datetime | None
    overdue: bool
    version: int
    created_at: datetime
    updated_at: datetime


class RejectionReason(StrEnum):
    no_capacity = "no_capacity"
    not_eligible = "not_eligible"
    out_of_area = "out_of_area"
    duplicate = "duplicate"
    unable_to_contact = "unable_to_contact"
    other = "other"


class FailureOutcome(StrEnum):
    client_refused_services = "client_refused_services"
    lack_of_capacity = "lack_of_capacity"
    services_no_longer_needed = "services_no_longer_needed"
    unable_to_contact_client = "unable_to_contact_client"
    unable_to_contact_receiver = "unable_to_contact_receiver"
    other = "other"


# Where the contract counts by code, the field takes only these codes; `note` is the free text.
CONTROLLED_CODES: dict[tuple[Status, str], type[StrEnum]] = {
    (Status.rejected, "reason"): RejectionReason,
    (Status.failed, "outcome"): FailureOutcome,
}
CONSENT_WITHDRAWN = "consent_withdrawn"  # the reason of a cancellation by consent withdrawal


def split_code(target: Status, field: str, value: str | None) -> tuple[str | None, str | None]:
    """(code, free text) of a transition's `reason` or `outcome`: a code says nothing of the
    person and stays in the clear; free text is sealed like the person's data."""
    codes = CONTROLLED_CODES.get((target, field))
    coded = (codes is not None and value in codes.__members__) or (
        target is Status.cancelled and field == "reason" and value == CONSENT_WITHDRAWN
    )
    return (value, None) if coded else (None, value)


class TransitionRequest(RequestBody):
    to: Status
    reason: FreeText | None = Field(
        default=None, description="rejected: one of the RejectionReason codes; else free text.",
        json_schema_extra=PERSONAL_DATA,
    )
    note: FreeText | None = Field(
        default=None, description="Free text; required with `other`.",
        json_schema_extra=PERSONAL_DATA,
    )
    outcome: FreeText | None = Field(
        default=None, description="failed: one of the FailureOutcome codes; completed: free text.",
        json_schema_extra=PERSONAL_DATA,
    )

    @model_validator(mode="after")
    def _reason_and_outcome(self) -> "TransitionRequest":
        if self.to in NEEDS_REASON and not self.reason:
            raise ValueError(f"a referral becomes {self.to} only with a reason")
        if self.to in CARRIES_OUTCOME and not self.outcome:
            raise ValueError(f"a referral becomes {self.to} only with an outcome")
        if self.to not in CARRIES_OUTCOME and self.outcome is not None:
            raise ValueError("only completed and failed carry an outcome")
        for (target, field), codes in CONTROLLED_CODES.items():
            value = getattr(self, field)
            if self.to is not target:
                continue
            if value not in codes.__members__:
                raise ValueError(
                    f"the {field} of a {target} referral is one of: {', '.join(codes)}"
                )
            if value == "other" and not self.note:
                raise ValueError(f"{field} 'other' needs a note that explains it")
        return self


class TransitionRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: uuid.UUID
    from_status: Status | None = Field(alias="from", description="null for the creation")
    to: Status
    reason: str | None = withheld()
    note: str | None = withheld()
    outcome: str | None = withheld()
    actor_subject: str
    actor_org_id: uuid.UUID | None
    actor: Actor = Field(description="Who made the change: the person, or the API client.")
    occurred_at: datetime


class JourneyLeg(BaseModel):
    """One referral of the person's journey; no personal data, no free text."""

    id: uuid.UUID
    parent_referral_id: uuid.UUID | None
    sender_org_id: uuid.UUID
    receiver_org_id: uuid.UUID
    service_id: uuid.UUID | None
    from_country: str
    to_country: str
    migration_stage: MigrationStage
    categories: list[str]
    urgency: Urgency
    status: Status
    requested_at: datetime | None
    created_at: datetime
    updated_at: datetime
