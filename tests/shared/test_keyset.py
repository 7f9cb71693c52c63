"""Keyset orders: cursor keys of documents and the filters that continue after them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nocturnal.shared.keyset import CREATED_NEWEST_FIRST, Keyset
from nocturnal.shared.paging import InvalidCursor

AT = datetime(2026, 11, 30, 22, 0, 5, 123000, tzinfo=UTC)


def test_a_document_key_writes_its_times_in_rfc3339_and_reads_back_as_a_filter() -> None:
    key = CREATED_NEWEST_FIRST.key_of({"_id": "f1", "created_at": AT, "owner": "x"})
    assert key == ["2026-11-30T22:00:05.123Z", "f1"]
    assert CREATED_NEWEST_FIRST.after(key) == {
        "$or": [{"created_at": {"$lt": AT}}, {"created_at": AT, "_id": {"$lt": "f1"}}]
    }


def test_an_ascending_order_continues_with_greater_keys() -> None:
    soonest = Keyset(("date", "start_time", "_id"))
    assert soonest.after(["2026-12-01", "22:00", "d1"])["$or"][2] == {
        "date": "2026-12-01",
        "start_time": "22:00",
        "_id": {"$gt": "d1"},
    }


@pytest.mark.parametrize(
    "cursor",
    [[], ["a"], ["2026-11-30T22:00:05.123Z", "f1", "x"], [1, "f1"], ["yesterday", "f1"],
     ["2026-11-30T22:00:05", "f1"], [None, None]],
)  # fmt: skip
def test_a_cursor_of_another_shape_is_refused(cursor: list[object]) -> None:
    with pytest.raises(InvalidCursor):
        CREATED_NEWEST_FIRST.after(cursor)
