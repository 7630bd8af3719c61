"""Timestamps are UTC; SQLite hands them back without a zone, so reads restore it."""

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator
from waymark_kernel.events import as_utc


def _date_time_text(value: object) -> object:
    """A date-time is RFC 3339 text: numbers (which pydantic reads as Unix times) are refused."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("not an RFC 3339 date-time")
    return value


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")
UtcDateTime = Annotated[datetime, BeforeValidator(_date_time_text), AfterValidator(as_utc)]


def rfc3339(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")
