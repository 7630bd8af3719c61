"""Keyset pagination by name or by distance: the cursor holds the sort value and id of the last
item of a page."""

import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from waymark_kernel.cursors import CursorFormat, Identifier, Number, Text

from waymark_registry.fields import MAX_NAME_LENGTH
from waymark_registry.services.schemas import MAX_RADIUS_KM

BY_NAME = CursorFormat(Text(MAX_NAME_LENGTH), Identifier())
BY_DISTANCE = CursorFormat(Number(0, MAX_RADIUS_KM), Identifier())


def after(sort_column: Any, id_column: Any, position: tuple[Any, uuid.UUID]) -> ColumnElement[bool]:
    value, identifier = position
    return or_(sort_column > value, and_(sort_column == value, id_column > identifier))
