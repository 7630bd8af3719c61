"""Keyset pagination by name or by distance: the cursor holds the sort value and id of the last
item of a page (read back with the kernel's `position_after`)."""

import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, or_


def name_value(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("a name is text")
    return value


def distance_value(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("a distance is a number")
    return float(value)


def after(sort_column: Any, id_column: Any, position: tuple[Any, uuid.UUID]) -> ColumnElement[bool]:
    value, identifier = position
    return or_(sort_column > value, and_(sort_column == value, id_column > identifier))
