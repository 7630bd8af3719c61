import uuid
from datetime import datetime
from typing import Any

from waymark_kernel.problems import Problem

from waymark_notifications.clock import as_utc


def timestamp_and_id(position: list[Any] | None) -> tuple[datetime, uuid.UUID] | None:
    """The (timestamp, id) sort key a cursor of this service holds."""
    if position is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(position[0])), uuid.UUID(position[1])
    except (TypeError, ValueError) as exc:
        raise Problem(
            400, "The cursor is not one this API returned.", kind="invalid-cursor"
        ) from exc
