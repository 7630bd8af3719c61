import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from waymark_kernel.api import RequestBody
from waymark_referrals.actors.schemas import Actor
from waymark_referrals.vocabulary import PERSONAL_DATA


class CommentCreate(RequestBody):
    text: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)
    ] = Field(json_schema_extra=PERSONAL_DATA)


class CommentRead(BaseModel):
    id: uuid.UUID
    referral_id: uuid.UUID
    author_org_id: uuid.UUID
    author_subject: str
    actor: Actor = Field(description="Who wrote it: the person, or the API client.")
    text: str | None = Field(description=(
        "null for another organisation than the case's owner once the person's data was "
        "withdrawn from the referral or erased after its retention period"
    ), json_schema_extra=PERSONAL_DATA)
    created_at: datetime
