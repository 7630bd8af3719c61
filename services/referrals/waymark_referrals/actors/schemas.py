import uuid

from pydantic import BaseModel, Field

from waymark_kernel.auth import IdentityKind
from waymark_referrals.vocabulary import PERSONAL_DATA


class RecordedActor(BaseModel):
    """Who acted, as a record keeps it: a client's name, but never a person's in the clear,
    only where her sealed name is."""

    kind: IdentityKind
    id: str
    name: str | None = None
    name_id: uuid.UUID | None = None

    @classmethod
    def client(cls, subject: str) -> "RecordedActor":
        """What a record from before people had accounts says: an API client, no name."""
        return cls(kind="client", id=subject)


class Actor(BaseModel):
    kind: IdentityKind = Field(description="`person` for someone signed in, `client` for a system.")
    id: str = Field(description="The person's id or the API client's id.")
    name: str | None = Field(description=(
        "The person's display name when she acted (a stable pseudonym, `person-…`, once her "
        "account was erased), or the client's name; null when the token carried none."
    ), json_schema_extra=PERSONAL_DATA)


class PersonErasure(BaseModel):
    person_id: uuid.UUID
    pseudonym: str = Field(description="What every record shows instead of her name from now on.")
    names_erased: int = Field(description="Sealed names replaced by this call (0 on a repeat).")
