"""JSON parsing that remembers the line each object starts on, to report a bad row by line."""

import json
from typing import Any

_decoder = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


class JsonSyntaxError(ValueError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


class LocatedJson:
    """`parse(text)` → the value; `line_of(obj)` → the line a parsed object started on."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._lines: dict[int, int] = {}
        self._line_starts = [0]
        self._keep: list[Any] = []  # holds the objects so their ids stay unique

    def parse(self) -> Any:
        text = self._text
        self._line_starts = [0, *(i + 1 for i, c in enumerate(text) if c == "\n")]
        try:
            value, end = self._value(self._skip(0))
        except RecursionError as exc:
            raise JsonSyntaxError(1, "nested too deeply") from exc
        except (json.JSONDecodeError, IndexError) as exc:
            position = exc.pos if isinstance(exc, json.JSONDecodeError) else len(text)
            raise JsonSyntaxError(self._line(position), "not valid JSON") from exc
        rest = self._skip(end)
        if rest != len(text):
            raise JsonSyntaxError(self._line(rest), "extra data after the JSON value")
        return value

    def line_of(self, value: Any) -> int | None:
        return self._lines.get(id(value))

    def _line(self, position: int) -> int:
        low, high = 0, len(self._line_starts)
        while low + 1 < high:  # the last line start at or before the position
            middle = (low + high) // 2
            if self._line_starts[middle] <= position:
                low = middle
            else:
                high = middle
        return low + 1

    def _skip(self, position: int) -> int:
        text = self._text
        while position < len(text) and text[position] in _WHITESPACE:
            position += 1
        return position

    def _value(self, position: int) -> tuple[Any, int]:
        text = self._text
        opening = text[position]
        if opening not in "[{":
            return _decoder.raw_decode(text, position)
        closing = "]" if opening == "[" else "}"
        container: Any = [] if opening == "[" else {}
        if opening == "{":
            self._lines[id(container)] = self._line(position)
            self._keep.append(container)
        position = self._skip(position + 1)
        if text[position] == closing:
            return container, position + 1
        while True:
            if opening == "{":
                key, position = _decoder.raw_decode(text, position)
                if not isinstance(key, str):
                    raise json.JSONDecodeError("expected a key", text, position)
                position = self._skip(position)
                if text[position] != ":":
                    raise json.JSONDecodeError("expected ':'", text, position)
                item, position = self._value(self._skip(position + 1))
                container[key] = item
            else:
                item, position = self._value(position)
                container.append(item)
            position = self._skip(position)
            if text[position] == closing:
                return container, position + 1
            if text[position] != ",":
                raise json.JSONDecodeError("expected ',' or a closing bracket", text, position)
            position = self._skip(position + 1)
