import uuid

from pydantic import BaseModel, Field

from waymark_gateway.people.passwords import MAX_LENGTH
from waymark_gateway.people.schemas import Email, PersonRead
from waymark_kernel.api import RequestBody


class SignIn(RequestBody):
    email: Email
    # No rule but the length here: a password set before a rule changed still signs in.
    password: str = Field(min_length=1, max_length=MAX_LENGTH)
    code: str | None = Field(
        default=None, max_length=64, description="A TOTP code, or one of the recovery codes."
    )


class SessionRead(BaseModel):
    person: PersonRead
    csrf_token: str = Field(
        description="Send it as X-CSRF-Token (or the form field csrf_token) with every request "
        "made with the session cookie that changes something."
    )


class SessionStarted(SessionRead):
    recovery_codes: list[str] | None = Field(
        default=None, description="New recovery codes, when this sign-in enrolled a second factor.",
    )


class ProviderRead(BaseModel):
    name: str
    organization_id: uuid.UUID
    start_url: str = Field(description="Open it in the browser (`?return_to=/path`, and "
                           "`?invitation=<token>` to accept an invitation through the provider).")
