"""API conventions shared by every service: strict request bodies and cursor pages."""

import base64
import binascii
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict

from waymark_kernel.problems import Problem

T = TypeVar("T")
MAX_PAGE_SIZE = 100


class RequestBody(BaseModel):
    """Base of every request body: unknown fields are rejected (422)."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size (at most 100).")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
]


def encode_cursor(*position: Any) -> str:
    """An opaque cursor holding the sort key of the last item of a page."""
    return base64.urlsafe_b64encode(json.dumps(position, default=str).encode()).decode()


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error) as exc:
        raise Problem(400, "The cursor is not one this API returned.", kind="invalid-cursor") from exc
    if not isinstance(position, list) or len(position) != arity:
        raise Problem(400, "The cursor is not one this API returned.", kind="invalid-cursor")
    return position
