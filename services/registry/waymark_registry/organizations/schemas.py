import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from waymark_kernel.api import RequestBody
from waymark_kernel.clock import UtcDateTime

from waymark_registry.fields import (
    CountryCode, EmailAddress, LanguageList, Name, PhoneNumber, Text, WebAddress,
)

OrganizationType = Literal[
    "national_society", "cso", "government", "international", "migrant_association"
]
IdentifierText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]


class OrganizationIdentifier(RequestBody):
    """An HSDS `organization_identifier`, e.g. a charity or company registration number."""

    identifier_scheme: IdentifierText | None = Field(
        default=None, description="e.g. an org-id.guide list code such as `NP-SWC`"
    )
    identifier_type: IdentifierText = Field(
        description="e.g. `Social Welfare Council registration`"
    )
    identifier: IdentifierText


Identifiers = Annotated[list[OrganizationIdentifier], Field(max_length=20)]


class OrganizationCreate(RequestBody):
    name: Name
    type: OrganizationType
    country: CountryCode
    description: Text | None = None
    website: WebAddress | None = None
    email: EmailAddress | None = None
    phone: PhoneNumber | None = None
    languages: LanguageList = []
    identifiers: Identifiers = []
    verified: bool = False


IDENTITY_NOTE = (
    "Part of the organisation's identity, which verification vouches for and consent scopes "
    "name: only a network_admin may change it."
)


class OrganizationUpdate(RequestBody):
    """Only the fields given change; `null` clears an optional field."""

    name: Name = Field(default=None, description=IDENTITY_NOTE)
    type: OrganizationType = Field(default=None, description=IDENTITY_NOTE)
    country: CountryCode = Field(default=None, description=IDENTITY_NOTE)
    description: Text | None = None
    website: WebAddress | None = None
    email: EmailAddress | None = None
    phone: PhoneNumber | None = None
    languages: LanguageList = None
    identifiers: Identifiers = None
    verified: bool = Field(default=None, description="Only a network_admin may change it.")


class OrganizationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    type: OrganizationType
    country: str
    description: str | None
    website: str | None
    email: str | None
    phone: str | None
    languages: list[str]
    identifiers: list[OrganizationIdentifier]
    verified: bool
    created_at: UtcDateTime
    updated_at: UtcDateTime
