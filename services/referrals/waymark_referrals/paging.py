"""Cursor pages ordered by (timestamp, id), the order of every list of this service."""

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from waymark_kernel.api import Page, decode_cursor, encode_cursor
from waymark_kernel.problems import Problem

Row = TypeVar("Row")
Position = tuple[datetime, uuid.UUID]


def position_after(cursor: str | None) -> Position | None:
    position = decode_cursor(cursor, 2)
    if position is None:
        return None
    try:
        return datetime.fromisoformat(position[0]), uuid.UUID(position[1])
    except (TypeError, ValueError) as exc:
        raise Problem(
            400, "The cursor is not one this API returned.", kind="invalid-cursor"
        ) from exc


def page_of(
    rows: Sequence[Row], limit: int, present: Callable[[Row], Any],
    position: Callable[[Row], Position],
) -> Page:
    """`rows` holds up to limit + 1 rows: one more than the page says whether another follows."""
    shown = rows[:limit]
    next_cursor = encode_cursor(*position(shown[-1])) if len(rows) > limit else None
    return Page(items=[present(row) for row in shown], next_cursor=next_cursor)
