import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from waymark_gateway.audit.schemas import UtcTimestamp
from waymark_gateway.people.emails import InvalidEmail, normalized_email
from waymark_gateway.people.passwords import MAX_LENGTH, refusal_of
from waymark_kernel.api import RequestBody

# Roles an organisation's admin or an external sign-in provider may give.
GrantableRole = Literal["org_admin", "caseworker", "viewer"]
# A person's roles: network_admin too, which only a network admin gives or takes away.
PersonRole = Literal["org_admin", "caseworker", "viewer", "network_admin"]


def _without_duplicates(roles: list[str]) -> list[str]:
    return list(dict.fromkeys(roles))


def _email(value: str) -> str:
    try:
        return normalized_email(value)
    except InvalidEmail as exc:
        raise ValueError(str(exc)) from exc


def _acceptable_password(password: str) -> str:
    if reason := refusal_of(password):
        raise ValueError(reason)
    return password


Email = Annotated[str, Field(min_length=3, max_length=320), AfterValidator(_email)]
Roles = Annotated[
    list[PersonRole], Field(min_length=1, max_length=4), AfterValidator(_without_duplicates)
]
# The length limit is checked before anything else: a huge password costs no hashing.
NewPassword = Annotated[str, Field(max_length=MAX_LENGTH), AfterValidator(_acceptable_password)]


class InvitationCreate(RequestBody):
    email: Email
    roles: Roles
    second_factor_waived: bool = Field(
        default=False, description="Demo networks only: the person signs in without a second "
        "factor. Refused unless the network seeds demo data.",
    )


class InvitationRead(BaseModel):
    id: uuid.UUID
    email: str
    roles: list[str]
    expires_at: UtcTimestamp
    accepted_at: UtcTimestamp | None = None


class InvitationCreated(InvitationRead):
    accept_url: str | None = Field(
        description="The link to send the invitee; only when no email server is configured "
        "(otherwise it was emailed). Shown once."
    )


class InvitationView(BaseModel):
    """What the invitee sees before accepting."""

    email: str
    organization_id: uuid.UUID
    roles: list[str]
    expires_at: UtcTimestamp


class InvitationAccept(RequestBody):
    name: str = Field(min_length=1, max_length=200, description="How the person is shown.")
    password: NewPassword


class PersonRead(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    email: str
    roles: list[str]
    active: bool
    mfa_enrolled: bool
    last_sign_in_at: UtcTimestamp | None


class TotpEnrolment(BaseModel):
    secret: str = Field(description="Base32; for authenticator apps that take it typed in.")
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as a QR code (SVG), made by the gateway.")


class Enrolled(BaseModel):
    person: PersonRead
    totp: TotpEnrolment | None = Field(description="None when the second factor is waived (demo).")
    recovery_codes: list[str] = Field(description="One-time codes for a lost authenticator; shown once.")


class PersonUpdate(RequestBody):
    roles: Roles | None = None
    active: bool | None = None
