"""The one cursor decoder of the network: whatever string it is given, it answers with a sort key
it wrote itself or with the 400 problem, never anything else."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waymark_kernel.cursors import (
    BY_TIME,
    MAX_CURSOR_LENGTH,
    CursorFormat,
    Identifier,
    Integer,
    InvalidCursor,
    Number,
    Text,
)

BY_POSITION = CursorFormat(Integer(0, 2**63 - 1))
BY_NAME = CursorFormat(Text(200), Identifier())
BY_DISTANCE = CursorFormat(Number(0, 20_100), Identifier())
BY_CODE = CursorFormat(Text(64))
FORMATS = [BY_TIME, BY_POSITION, BY_NAME, BY_DISTANCE, BY_CODE]
AN_ID = uuid.UUID("0b6f3c1e-7d52-4c1a-9a8e-2f4d6b8c0e11")
CHECKS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def raw_cursor(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return base64.urlsafe_b64encode(data).decode()


def assert_written_by_the_format_or_refused(cursor_format: CursorFormat, cursor: str) -> None:
    try:
        decoded = cursor_format.decode(cursor)
    except InvalidCursor as refused:  # either outcome is right: no pytest.raises
        assert (refused.status, refused.kind) == (400, "invalid-cursor")  # noqa: PT017
        return
    assert decoded is not None
    assert cursor_format.encode(*decoded) == cursor


@pytest.mark.parametrize("cursor_format", [BY_POSITION, BY_TIME, BY_DISTANCE])
@pytest.mark.parametrize("payload", ["[99999999999999999999999]", "[true]"])
def test_finding_7_a_huge_number_or_a_boolean_in_a_cursor_is_a_400(
    cursor_format: CursorFormat, payload: str
) -> None:
    with pytest.raises(InvalidCursor):
        cursor_format.decode(raw_cursor(payload))


@pytest.mark.parametrize("payload", [
    '["0001-01-01T00:00:00+05:00", "0b6f3c1e-7d52-4c1a-9a8e-2f4d6b8c0e11"]',  # before year 1 in UTC
    '["2026-03-01T09:30:00", "0b6f3c1e-7d52-4c1a-9a8e-2f4d6b8c0e11"]',  # no zone
    '["2026-03-01T09:30:00+00:00", "0B6F3C1E-7D52-4C1A-9A8E-2F4D6B8C0E11"]',  # not as written
    '["2026-03-01T09:30:00+00:00", "{0b6f3c1e-7d52-4c1a-9a8e-2f4d6b8c0e11}"]',
    '["2026-03-01T09:30:00+00:00", ["0b6f3c1e-7d52-4c1a-9a8e-2f4d6b8c0e11"]]',
    '{"0": "2026-03-01T09:30:00+00:00"}', "NaN", "[NaN]", "[Infinity]", "null", "[]", '""',
])
def test_values_the_api_never_writes_are_refused(payload: str) -> None:
    for cursor_format in FORMATS:
        with pytest.raises(InvalidCursor):
            cursor_format.decode(raw_cursor(payload))


@pytest.mark.parametrize(("cursor_format", "payload"), [
    (BY_DISTANCE, '[Infinity, "0b6f3c1e-7d52-4c1a-9a8e-2f4d6b8c0e11"]'),
    (BY_DISTANCE, '[1e400, "0b6f3c1e-7d52-4c1a-9a8e-2f4d6b8c0e11"]'),
    (BY_DISTANCE, '[-1.0, "0b6f3c1e-7d52-4c1a-9a8e-2f4d6b8c0e11"]'),
    (BY_DISTANCE, '[3, "0b6f3c1e-7d52-4c1a-9a8e-2f4d6b8c0e11"]'),  # written as 3.0
    (BY_POSITION, "[-1]"),
    (BY_POSITION, f"[{2**63}]"),
    (BY_NAME, '["a\\u0000b", "0b6f3c1e-7d52-4c1a-9a8e-2f4d6b8c0e11"]'),  # NUL
    (BY_NAME, '["\\ud800", "0b6f3c1e-7d52-4c1a-9a8e-2f4d6b8c0e11"]'),  # a lone surrogate
    (BY_NAME, f'["{"n" * 201}", "0b6f3c1e-7d52-4c1a-9a8e-2f4d6b8c0e11"]'),
    (BY_CODE, '[42]'),
])
def test_values_out_of_a_fields_bounds_are_refused(cursor_format: CursorFormat, payload: str) -> None:
    with pytest.raises(InvalidCursor):
        cursor_format.decode(raw_cursor(payload))


def test_another_spelling_of_a_cursor_is_refused() -> None:
    cursor = BY_TIME.encode(datetime(2026, 3, 1, 9, 30, tzinfo=UTC), AN_ID)
    spaced = raw_cursor(json.dumps(json.loads(base64.urlsafe_b64decode(cursor))))

    assert BY_TIME.decode(cursor) is not None
    for other in (spaced, cursor.rstrip("="), cursor + "=", cursor + "\n", f" {cursor}"):
        with pytest.raises(InvalidCursor):
            BY_TIME.decode(other)


def test_a_long_name_in_any_script_fits_in_a_cursor() -> None:
    name = "\U0001d4d0" * 200  # 200 characters of four bytes each

    cursor = BY_NAME.encode(name, AN_ID)

    assert len(cursor) <= MAX_CURSOR_LENGTH
    assert BY_NAME.decode(cursor) == (name, AN_ID)


@CHECKS
@given(cursor=st.text(max_size=600))
def test_finding_7_any_text_is_a_cursor_the_format_wrote_or_a_400(cursor: str) -> None:
    for cursor_format in FORMATS:
        assert_written_by_the_format_or_refused(cursor_format, cursor)


@CHECKS
@given(data=st.binary(max_size=400))
def test_finding_7_any_bytes_in_base64_are_a_cursor_the_format_wrote_or_a_400(data: bytes) -> None:
    for cursor_format in FORMATS:
        assert_written_by_the_format_or_refused(cursor_format, raw_cursor(data))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    | st.datetimes(timezones=st.timezones()).map(str) | st.uuids().map(str),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)


@CHECKS
@given(value=JSON_VALUES, compact=st.booleans())
def test_finding_7_any_json_in_a_cursor_is_a_key_the_format_wrote_or_a_400(
    value: object, compact: bool
) -> None:
    text = json.dumps(value, separators=(",", ":") if compact else None, ensure_ascii=compact)
    for cursor_format in FORMATS:
        assert_written_by_the_format_or_refused(cursor_format, raw_cursor(text))


ZONES = [UTC, timezone(timedelta(hours=5, minutes=45)), timezone(timedelta(hours=-3))]
NAMES = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=200
)


@CHECKS
@given(
    # hypothesis takes naive bounds and adds the zones itself
    moment=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9000, 1, 1),  # noqa: DTZ001
                        timezones=st.sampled_from(ZONES)),
    identifier=st.uuids(), name=NAMES,
    distance=st.floats(min_value=0, max_value=20_100), position=st.integers(0, 2**63 - 1),
)
def test_every_key_the_formats_write_is_read_back(
    moment: datetime, identifier: uuid.UUID, name: str, distance: float, position: int
) -> None:
    assert BY_TIME.decode(BY_TIME.encode(moment, identifier)) == (moment, identifier)
    assert BY_NAME.decode(BY_NAME.encode(name, identifier)) == (name, identifier)
    assert BY_DISTANCE.decode(BY_DISTANCE.encode(distance, identifier)) == (distance, identifier)
    assert BY_POSITION.decode(BY_POSITION.encode(position)) == (position,)
