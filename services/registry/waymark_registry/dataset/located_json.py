"""JSON parsing that remembers the line each object starts on, to report a bad row by line."""

import json
import re
from typing import Any

_decoder = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# Whitespace is skipped this many characters at a time, so that a file of blank lines does not
# hold the GIL (and every request of the process) for one long regular-expression match.
_SKIP_WINDOW = 2**16


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
        self._counted = (0, 1)  # (position, its line): the parser moves forward only
        self._keep: list[Any] = []  # holds the objects so their ids stay unique

    def parse(self) -> Any:
        text = self._text
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
        counted, line = self._counted
        if position < counted:
            counted, line = 0, 1
        line += self._text.count("\n", counted, position)
        self._counted = (position, line)
        return line

    def _skip(self, position: int) -> int:
        while True:
            window_end = position + _SKIP_WINDOW
            spaces = _WHITESPACE.match(self._text, position, window_end)  # matches, if only ""
            position = position if spaces is None else spaces.end()
            if position < window_end:
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
