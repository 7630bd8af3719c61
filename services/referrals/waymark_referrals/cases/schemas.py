"""A case: the person an organisation supports, their vulnerabilities and the legal basis for
sharing their data. No field asks for, or can hold, a legal status."""

import uuid
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from waymark_kernel.api import RequestBody
from waymark_referrals.actors.schemas import Actor, RecordedActor
from waymark_referrals.vocabulary import PERSONAL_DATA, Country, Language, Moment

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
FreeText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
CLOCK_SKEW = timedelta(minutes=5)


class Sex(StrEnum):
    female = "female"
    male = "male"
    other = "other"
    unknown = "unknown"


class Vulnerability(StrEnum):
    victim_of_trafficking = "victim_of_trafficking"
    domestic_worker = "domestic_worker"
    unaccompanied_child = "unaccompanied_child"
    separated_child = "separated_child"
    pregnant = "pregnant"
    disability = "disability"
    serious_medical_condition = "serious_medical_condition"
    mental_health_need = "mental_health_need"
    survivor_of_violence = "survivor_of_violence"
    older_person = "older_person"
    single_caregiver = "single_caregiver"


class Person(RequestBody):
    """Every field is optional: help never waits for a document or a full identity. All of it
    is personal data."""

    model_config = ConfigDict(json_schema_extra=PERSONAL_DATA)

    given_name: Name | None = None
    family_name: Name | None = None
    date_of_birth: date | None = None
    age_estimate: int | None = Field(default=None, ge=0, le=130)
    sex: Sex | None = None
    nationality: Country | None = None
    languages: list[Language] = Field(default_factory=list, max_length=20)
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    current_country: Country | None = None
    safe_contact: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=1000)
    ] | None = Field(default=None, description="How and when it is safe to contact the person.")

    @model_validator(mode="after")
    def _one_age(self) -> "Person":
        if self.date_of_birth is not None and self.age_estimate is not None:
            raise ValueError("give date_of_birth or age_estimate, not both")
        if self.date_of_birth is not None and self.date_of_birth > datetime.now().astimezone().date():
            raise ValueError("date_of_birth is in the future")
        return self


# The name of each field of Person (a test keeps the two the same); no docstring, which the API
# document would show.
class PersonField(StrEnum):
    given_name = "given_name"
    family_name = "family_name"
    date_of_birth = "date_of_birth"
    age_estimate = "age_estimate"
    sex = "sex"
    nationality = "nationality"
    languages = "languages"
    phone = "phone"
    current_country = "current_country"
    safe_contact = "safe_contact"


class LegalBasis(StrEnum):
    consent = "consent"
    vital_interest = "vital_interest"
    public_interest = "public_interest"
    legitimate_interest = "legitimate_interest"
    legal_obligation = "legal_obligation"
    contract = "contract"


class ConsentMethod(StrEnum):
    verbal = "verbal"
    written = "written"
    electronic = "electronic"
    other = "other"


class OrganizationType(StrEnum):
    national_society = "national_society"
    cso = "cso"
    government = "government"
    international = "international"
    migrant_association = "migrant_association"


class ConsentScope(RequestBody):
    """Whom the data may go to; a field left out (null) does not restrict. A scope that names
    countries or organisation types covers only organisations the network has verified: an
    organisation's country and type are what its verification vouches for."""

    countries: list[Country] | None = Field(default=None, max_length=250)
    organization_types: list[OrganizationType] | None = Field(default=None, max_length=10)

    def covers(self, country: str, organization_type: str, verified: bool) -> bool:
        if self.countries is None and self.organization_types is None:
            return True
        return verified and (self.countries is None or country in self.countries) and (
            self.organization_types is None or organization_type in self.organization_types
        )


class ConsentRecord(RequestBody):
    legal_basis: LegalBasis
    # One object is read as a list of one; the type says so, so that the document does too.
    scope: Annotated[list[ConsentScope], Field(max_length=20)] | ConsentScope = Field(
        default_factory=list,
        description=(
            "Sharing is allowed where any item covers the receiver; empty: no restriction. An "
            "item naming countries or organisation types covers verified organisations only."
        ),
    )
    given_at: Moment
    method: ConsentMethod | None = None
    notes: FreeText | None = Field(default=None, json_schema_extra=PERSONAL_DATA)
    justification: FreeText | None = Field(
        default=None, description="Why sharing is necessary; required for vital_interest.",
        json_schema_extra=PERSONAL_DATA,
    )

    @field_validator("scope", mode="before")
    @classmethod
    def _single_scope(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _justified(self) -> "ConsentRecord":
        if self.legal_basis is LegalBasis.vital_interest and not self.justification:
            raise ValueError("vital_interest needs a written justification")
        if self.given_at > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError("given_at is in the future")
        return self

    def covers(self, country: str, organization_type: str, verified: bool) -> bool:
        items = [self.scope] if isinstance(self.scope, ConsentScope) else self.scope
        return not items or any(
            item.covers(country, organization_type, verified) for item in items
        )


class Consent(ConsentRecord):
    """Consent as it is sealed in the case."""

    recorded_at: datetime
    recorded_by: str
    actor: RecordedActor | None = None  # None where it was recorded before actors were kept

    @property
    def recorded_actor(self) -> RecordedActor:
        return self.actor or RecordedActor.client(self.recorded_by)


class ConsentRead(ConsentRecord):
    recorded_at: datetime
    recorded_by: str
    actor: Actor = Field(description="Who recorded it: the person, or the API client.")


class ConsentWithdrawn(BaseModel):
    """The last withdrawal, as it is sealed in the case."""

    withdrawn_at: datetime
    actor: RecordedActor


class ConsentWithdrawnRead(BaseModel):
    withdrawn_at: datetime
    actor: Actor = Field(description="Who withdrew it: the person, or the API client.")


class CaseContent(BaseModel):
    """What is sealed (encrypted) in a case's row."""

    person: Person
    vulnerabilities: list[Vulnerability]
    consent: Consent | None = None
    consent_withdrawn: ConsentWithdrawn | None = None


Vulnerabilities = Annotated[list[Vulnerability], Field(max_length=len(Vulnerability))]


class CaseCreate(RequestBody):
    person: Person
    vulnerabilities: Vulnerabilities = Field(default_factory=list)


class CaseUpdate(RequestBody):
    person: Person | None = Field(
        default=None, description="Merged into the person: fields left out keep their value."
    )
    vulnerabilities: Vulnerabilities | None = None


class CaseRead(BaseModel):
    id: uuid.UUID
    reference: str = Field(description="Pseudonymous code, e.g. NP-2026-000042; no personal data.")
    organization_id: uuid.UUID
    person: Person
    vulnerabilities: list[Vulnerability]
    consent: ConsentRead | None
    consent_withdrawn: ConsentWithdrawnRead | None = Field(
        description="The last withdrawal of consent, if any: when and by whom."
    )
    created_by: Actor = Field(description="Who created the case: the person, or the API client.")
    created_at: datetime
    updated_at: datetime


class ConsentWithdrawal(BaseModel):
    case_id: uuid.UUID
    withdrawn_at: datetime
    actor: Actor
    cancelled_referral_ids: list[uuid.UUID]
