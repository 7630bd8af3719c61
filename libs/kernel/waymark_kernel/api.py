"""API conventions shared by every service: strict request bodies and cursor pages."""

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from waymark_kernel.events import as_utc
from waymark_kernel.problems import Problem
from waymark_kernel.text import is_name, refuse_forbidden_characters

T = TypeVar("T")
Row = TypeVar("Row")
SortValue = TypeVar("SortValue")
TimestampPosition = tuple[datetime, uuid.UUID]
MAX_PAGE_SIZE = 100


class RequestBody(BaseModel):
    """Base of every request body: unknown fields are rejected (422), and so is text holding
    NUL, or a name (`name`, `..._name`) holding bidirectional controls (waymark_kernel.text)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _plain_text(cls, value: Any, info: ValidationInfo) -> Any:
        refuse_forbidden_characters(value, name=is_name(info.field_name or ""))
        return value


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


def _invalid_cursor() -> Problem:
    return Problem(400, "The cursor is not one this API returned.", kind="invalid-cursor")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error) as exc:
        raise _invalid_cursor() from exc
    if not isinstance(position, list) or len(position) != arity:
        raise _invalid_cursor()
    return position


def utc_timestamp(value: Any) -> datetime:
    """A timestamp as `encode_cursor` wrote it; ValueError or TypeError for anything else."""
    return as_utc(datetime.fromisoformat(value))


def position_after(
    cursor: str | None, read_value: Callable[[Any], SortValue] = utc_timestamp
) -> tuple[SortValue, uuid.UUID] | None:
    """The (sort value, id) of the last item before the page a cursor asks for.

    `read_value` turns the cursor's sort value back into the column's type and raises
    ValueError or TypeError for a value that column cannot hold."""
    position = decode_cursor(cursor, 2)
    if position is None:
        return None
    value, identifier = position
    try:
        if not isinstance(identifier, str):
            raise TypeError("an id is written as text")
        return read_value(value), uuid.UUID(identifier)
    except (TypeError, ValueError) as exc:
        raise _invalid_cursor() from exc


def split_page(
    rows: Sequence[Row], limit: int, position: Callable[[Row], tuple[Any, uuid.UUID]]
) -> tuple[Sequence[Row], str | None]:
    """`rows` holds up to limit + 1 rows: the one past the page only tells that another follows.

    Returns the page's rows and the cursor of the next page (None on the last one)."""
    shown = rows[:limit]
    return shown, encode_cursor(*position(shown[-1])) if len(rows) > limit else None


def page_of(
    rows: Sequence[Row], limit: int, present: Callable[[Row], T],
    position: Callable[[Row], tuple[Any, uuid.UUID]],
) -> Page[T]:
    """The page of up to limit + 1 rows (see `split_page`), each row shown by `present`."""
    shown, next_cursor = split_page(rows, limit, position)
    return Page(items=[present(row) for row in shown], next_cursor=next_cursor)
