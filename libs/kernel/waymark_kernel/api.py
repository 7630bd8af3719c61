"""API conventions shared by every service: strict request bodies and cursor pages."""

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from waymark_kernel.cursors import BY_TIME, MAX_CURSOR_LENGTH, CursorFormat
from waymark_kernel.text import is_name, refuse_forbidden_characters

T = TypeVar("T")
Row = TypeVar("Row")
TimestampPosition = tuple[datetime, uuid.UUID]  # the sort key of a page `BY_TIME`
MAX_PAGE_SIZE = 100


# The default of an update's field that `null` may not clear: absent leaves it unchanged, and
# the field's own type refuses an explicit null. Typed Any, so the field keeps its own type.
NOT_GIVEN: Any = None


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
Cursor = Annotated[str | None, Query(
    max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page."
)]


def position_after(
    cursor: str | None, cursor_format: CursorFormat = BY_TIME
) -> tuple[Any, ...] | None:
    """The sort key of the last item before the page a cursor asks for (None: the first page);
    a 400 problem for a cursor this format did not write."""
    return cursor_format.decode(cursor)


def split_page(
    rows: Sequence[Row], limit: int, position: Callable[[Row], tuple[Any, ...]],
    cursor_format: CursorFormat = BY_TIME,
) -> tuple[Sequence[Row], str | None]:
    """`rows` holds up to limit + 1 rows: the one past the page only tells that another follows.

    Returns the page's rows and the cursor of the next page (None on the last one)."""
    shown = rows[:limit]
    return shown, cursor_format.encode(*position(shown[-1])) if len(rows) > limit else None


def page_of(
    rows: Sequence[Row], limit: int, present: Callable[[Row], T],
    position: Callable[[Row], tuple[Any, ...]], cursor_format: CursorFormat = BY_TIME,
) -> Page[T]:
    """The page of up to limit + 1 rows (see `split_page`), each row shown by `present`."""
    shown, next_cursor = split_page(rows, limit, position, cursor_format)
    return Page(items=[present(row) for row in shown], next_cursor=next_cursor)
