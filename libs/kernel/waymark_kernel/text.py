"""Characters no request body may carry: NUL anywhere (databases refuse it or cut text at it),
and in names the bidirectional controls that make a name show as another (`U+202E` turns
`gnp.exe` around)."""

import re
from typing import Any

NUL = "\x00"
# Embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069); the marks U+200E and
# U+200F, which right-to-left writing does use, are allowed.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def is_name(field_name: str) -> bool:
    """Names are the fields called `name` or `..._name`: what lists and exports show."""
    return field_name == "name" or field_name.endswith("_name")


def refuse_forbidden_characters(value: Any, *, name: bool) -> None:
    """ValueError when text in `value` (in lists and mappings too, keys included) holds NUL,
    or, in a name, a bidirectional control; a nested request body checks its own fields."""
    if isinstance(value, str):
        if NUL in value:
            raise ValueError("text must not contain the NUL character (U+0000)")
        if name and BIDI_CONTROLS.search(value):
            raise ValueError(
                "a name must not contain bidirectional control characters "
                "(U+202A to U+202E, U+2066 to U+2069)"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_forbidden_characters(key, name=False)
            refuse_forbidden_characters(item, name=name)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            refuse_forbidden_characters(item, name=name)


def shown_as_a_name(text: str) -> str:
    """A validator for text that lists show like a name though its field is not called one
    (e.g. a subscription's description)."""
    refuse_forbidden_characters(text, name=True)
    return text
