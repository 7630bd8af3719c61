import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from waymark_kernel.api import RequestBody

# network_admin is never granted to a created client: only the bootstrap client holds it.
GrantableRole = Literal["org_admin", "caseworker", "viewer"]


def _without_duplicates(roles: list[str]) -> list[str]:
    return list(dict.fromkeys(roles))


class ApiClientCreate(RequestBody):
    name: str = Field(
        min_length=1, max_length=200,
        description="What the client is, e.g. the partner system's name.",
    )
    roles: Annotated[
        list[GrantableRole], Field(min_length=1, max_length=3), AfterValidator(_without_duplicates)
    ]


class ApiClientCreated(BaseModel):
    client_id: str
    client_secret: str = Field(description="Shown only in this response; store it safely.")
    name: str
    roles: list[str]
    organization_id: uuid.UUID


class ApiClientRead(BaseModel):
    client_id: str
    name: str
    roles: list[str]
    organization_id: uuid.UUID
    created_at: datetime
    revoked_at: datetime | None = Field(
        description="When the client was revoked: its tokens stopped working then."
    )


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class JsonWebKeySet(BaseModel):
    keys: list[dict[str, Any]]
