"""Every moment of the network is UTC: taken now, read back from a database (SQLite hands
timestamps back without a zone), read from a request (RFC 3339 text only) and written out."""

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator
from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """The same moment in UTC; a moment without a zone (as SQLite keeps them) is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    """The moment in UTC as RFC 3339 text ending in `Z`."""
    return as_utc(moment).isoformat().replace("+00:00", "Z")


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _date_time_text(value: object) -> object:
    """A date-time is RFC 3339 text: numbers (which pydantic reads as Unix times) are refused."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("not an RFC 3339 date-time")
    return value


# A date-time a request gives: RFC 3339 text, in UTC once read.
UtcDateTime = Annotated[datetime, BeforeValidator(_date_time_text), AfterValidator(as_utc)]


class UtcTimestamp(TypeDecorator[datetime]):
    """A column of zone-aware UTC moments, also on SQLite, which stores them without a zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)
