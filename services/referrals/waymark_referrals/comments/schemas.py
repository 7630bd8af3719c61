import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints
from waymark_kernel.api import RequestBody


class CommentCreate(RequestBody):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class CommentRead(BaseModel):
    id: uuid.UUID
    referral_id: uuid.UUID
    author_org_id: uuid.UUID
    author_subject: str
    text: str
    created_at: datetime
