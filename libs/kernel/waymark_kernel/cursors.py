"""Page cursors: opaque to the caller, they hold the sort key of the last item of a page.

Every list endpoint of the network reads its cursors here. A cursor is accepted only in the
exact form `CursorFormat.encode` writes, and only with values the format's fields allow
(types, ranges, lengths): anything else, whatever bytes it holds, is the same 400 problem."""

import base64
import json
import math
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from waymark_kernel.clock import as_utc
from waymark_kernel.problems import Problem

V = TypeVar("V")
JsonScalar = str | int | float
# Base64 of the UTF-8 JSON of a sort key: a 200-character name of 4-byte characters fits.
MAX_CURSOR_LENGTH = 2048
# Errors a malformed cursor can raise while being read (UnicodeError and binascii.Error are
# ValueErrors; OverflowError comes from out-of-range numbers and dates).
_UNREADABLE = (ValueError, TypeError, OverflowError, RecursionError)


class InvalidCursor(Problem):
    def __init__(self) -> None:
        super().__init__(400, "The cursor is not one this API returned.", kind="invalid-cursor")


class CursorField(Generic[V]):
    """One value of a sort key: `dump` writes it as JSON, `load` reads it back and raises
    ValueError or TypeError for anything `dump` cannot have written."""

    def dump(self, value: V) -> JsonScalar:
        raise NotImplementedError

    def load(self, raw: object) -> V:
        raise NotImplementedError


def _text(raw: object) -> str:
    if not isinstance(raw, str):
        raise TypeError("a text value was expected")
    return raw


class Timestamp(CursorField[datetime]):
    """A moment, written in UTC."""

    def dump(self, value: datetime) -> str:
        return as_utc(value).isoformat()

    def load(self, raw: object) -> datetime:
        return as_utc(datetime.fromisoformat(_text(raw)))


class Identifier(CursorField[uuid.UUID]):
    def dump(self, value: uuid.UUID) -> str:
        return str(value)

    def load(self, raw: object) -> uuid.UUID:
        return uuid.UUID(_text(raw))


class Text(CursorField[str]):
    """Text a database column can hold: no NUL, no lone surrogate, at most `max_length`."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length

    def dump(self, value: str) -> str:
        return value

    def load(self, raw: object) -> str:
        text = _text(raw)
        if len(text) > self.max_length or "\x00" in text:
            raise ValueError("text out of bounds")
        text.encode()  # a lone surrogate raises UnicodeEncodeError
        return text


class Integer(CursorField[int]):
    def __init__(self, minimum: int, maximum: int) -> None:
        self.minimum, self.maximum = minimum, maximum

    def dump(self, value: int) -> int:
        return value

    def load(self, raw: object) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise TypeError("a whole number was expected")
        if not self.minimum <= raw <= self.maximum:
            raise ValueError("number out of range")
        return raw


class Number(CursorField[float]):
    """A finite number, written as a float."""

    def __init__(self, minimum: float, maximum: float) -> None:
        self.minimum, self.maximum = minimum, maximum

    def dump(self, value: float) -> float:
        return float(value)

    def load(self, raw: object) -> float:
        if not isinstance(raw, float):
            raise TypeError("a number was expected")
        if not (math.isfinite(raw) and self.minimum <= raw <= self.maximum):
            raise ValueError("number out of range")
        return raw


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class CursorFormat:
    """The sort key of one kind of page, value by value."""

    def __init__(self, *fields: CursorField[Any]) -> None:
        self.fields = fields

    def encode(self, *values: Any) -> str:
        dumped = [field.dump(value) for field, value in zip(self.fields, values, strict=True)]
        text = json.dumps(dumped, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return base64.urlsafe_b64encode(text.encode()).decode()

    def decode(self, cursor: str | None) -> tuple[Any, ...] | None:
        """The sort key a cursor of this format holds; None for no cursor (the first page).
        Raises InvalidCursor for any string `encode` did not return."""
        if cursor is None:
            return None
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise InvalidCursor()
        try:
            raw = json.loads(
                base64.urlsafe_b64decode(cursor.encode("ascii")).decode(),
                parse_constant=_no_constants,
            )
            if not isinstance(raw, list) or len(raw) != len(self.fields):
                raise ValueError("not a sort key of this format")
            values = tuple(field.load(item) for field, item in zip(self.fields, raw, strict=True))
            canonical = self.encode(*values)
        except _UNREADABLE as exc:
            raise InvalidCursor() from exc
        if canonical != cursor:  # another spelling of a valid key is not a cursor we wrote
            raise InvalidCursor()
        return values


# The usual order of a page: by creation time, then id.
BY_TIME = CursorFormat(Timestamp(), Identifier())
