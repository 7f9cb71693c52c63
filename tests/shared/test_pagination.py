"""Cursor pagination helpers."""

from __future__ import annotations

import pytest

from nocturnal.shared.http.pagination import decode_cursor, encode_cursor, render_page
from nocturnal.shared.paging import Page
from nocturnal.shared.problems import Problem


def test_cursor_round_trips_its_sort_key() -> None:
    key = ["2026-12-01T22:00:00Z", "d-1"]
    assert decode_cursor(encode_cursor(key)) == key


def _deeply_nested() -> str:
    import base64

    raw = ("[" * 100_000 + "]" * 100_000).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "!!!",
        "bm90IGpzb24",
        "eyJhIjoxfQ",
        "é",
        _deeply_nested(),
        encode_cursor([[[[1]]]]),
        encode_cursor(["x" * 600]),
    ],
)
def test_foreign_cursors_are_a_400(bad: str) -> None:
    with pytest.raises(Problem) as caught:
        decode_cursor(bad)
    assert caught.value.status == 400


def test_a_page_has_a_next_cursor_only_when_another_page_follows() -> None:
    last = render_page(Page([1, 2, 3]), lambda i: {"id": i})
    assert last == {"items": [{"id": 1}, {"id": 2}, {"id": 3}], "next_cursor": None}
    more = render_page(Page([1, 2], next_key=["2026-11-30T22:00:05.123Z", "2"]), str)
    assert more["items"] == ["1", "2"]
    assert decode_cursor(more["next_cursor"]) == ["2026-11-30T22:00:05.123Z", "2"]
