"""Keyset pagination: a cursor holds the sort key and id of the last item of a page."""

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, or_
from waymark_kernel.api import decode_cursor, encode_cursor
from waymark_kernel.problems import Problem

T = TypeVar("T")


def _invalid_cursor() -> Problem:
    return Problem(400, "The cursor is not one this API returned.", kind="invalid-cursor")


def decode_position(cursor: str | None, sort_type: type) -> tuple[Any, uuid.UUID] | None:
    """(sort value, id) of a cursor; a cursor of another ordering is refused like a forged one."""
    position = decode_cursor(cursor, 2)
    if position is None:
        return None
    value, identifier = position
    if sort_type is float and isinstance(value, int | float) and not isinstance(value, bool):
        value = float(value)
    elif not isinstance(value, sort_type):
        raise _invalid_cursor()
    try:
        return value, uuid.UUID(str(identifier))
    except ValueError as exc:
        raise _invalid_cursor() from exc


def after(sort_column: Any, id_column: Any, position: tuple[Any, uuid.UUID]) -> ColumnElement[bool]:
    value, identifier = position
    return or_(sort_column > value, and_(sort_column == value, id_column > identifier))


def split_page(
    rows: list[T], limit: int, position: Callable[[T], tuple[Any, uuid.UUID]]
) -> tuple[list[T], str | None]:
    """`rows` holds up to limit + 1 items; the extra one only tells that a next page exists."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(*position(rows[-1]))
