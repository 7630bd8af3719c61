"""Cursor pages ordered by (sort value, id): a cursor brings back exactly the key it was made of."""

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from waymark_kernel.api import page_of, position_after, split_page
from waymark_kernel.cursors import BY_TIME, CursorFormat, Identifier, Number
from waymark_kernel.problems import Problem

AN_ID = uuid.UUID("0b6f3c1e-7d52-4c1a-9a8e-2f4d6b8c0e11")


@dataclass
class Row:
    created_at: datetime
    id: uuid.UUID


def raw_cursor(*position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def rows(count: int) -> list[Row]:
    start = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    return [Row(start + timedelta(minutes=index), uuid.uuid4()) for index in range(count)]


def key(row: Row) -> tuple[datetime, uuid.UUID]:
    return row.created_at, row.id


def test_no_cursor_is_the_first_page() -> None:
    assert position_after(None) is None


def test_a_cursor_gives_back_the_timestamp_and_id_it_was_made_of() -> None:
    moment = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)

    assert position_after(BY_TIME.encode(moment, AN_ID)) == (moment, AN_ID)


def test_timestamps_come_back_in_utc() -> None:
    athens = timezone(timedelta(hours=2))

    position = position_after(BY_TIME.encode(datetime(2026, 3, 1, 11, 30, tzinfo=athens), AN_ID))
    assert position is not None
    moment, _ = position

    assert moment == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert moment.tzinfo is UTC


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 at all!",
        raw_cursor("2026-03-01T09:30:00+00:00"),
        raw_cursor("2026-03-01T09:30:00+00:00", str(AN_ID), "extra"),
        raw_cursor("yesterday", str(AN_ID)),
        raw_cursor(1772357400, str(AN_ID)),
        raw_cursor(None, str(AN_ID)),
        raw_cursor("2026-03-01T09:30:00+00:00", "not-a-uuid"),
        raw_cursor("2026-03-01T09:30:00+00:00", 42),
        raw_cursor("2026-03-01T09:30:00+00:00", None),
        raw_cursor("2026-03-01T09:30:00", str(AN_ID)),  # no zone: not as the API writes it
        base64.urlsafe_b64encode(b'{"at": 1}').decode(),
    ],
)
def test_a_cursor_this_api_did_not_write_is_refused(cursor: str) -> None:
    with pytest.raises(Problem) as refused:
        position_after(cursor)

    assert (refused.value.status, refused.value.kind) == (400, "invalid-cursor")


def test_another_sort_key_is_read_by_the_format_given() -> None:
    by_distance = CursorFormat(Number(0, 100), Identifier())

    assert position_after(by_distance.encode(3, AN_ID), by_distance) == (3.0, AN_ID)
    with pytest.raises(Problem) as refused:
        position_after(BY_TIME.encode(datetime.now(UTC), AN_ID), by_distance)
    assert refused.value.kind == "invalid-cursor"


def test_one_row_past_the_limit_gives_a_cursor_to_the_rest() -> None:
    fetched = rows(4)

    shown, next_cursor = split_page(fetched, 3, key)

    assert shown == fetched[:3]
    assert position_after(next_cursor) == key(fetched[2])


@pytest.mark.parametrize("count", [0, 2, 3])
def test_the_last_page_has_no_cursor(count: int) -> None:
    fetched = rows(count)

    assert split_page(fetched, 3, key) == (fetched, None)


def test_a_page_shows_each_row_of_the_page() -> None:
    fetched = rows(3)

    page = page_of(fetched, 2, lambda row: str(row.id), key)

    assert page.items == [str(row.id) for row in fetched[:2]]
    assert position_after(page.next_cursor) == key(fetched[1])
