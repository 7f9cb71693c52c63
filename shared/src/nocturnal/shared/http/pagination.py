"""Cursor pagination (`?limit=1..100&cursor=`), responses `{items, next_cursor}` (DESIGN §1)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from nocturnal.shared.http.request import query_int
from nocturnal.shared.problems import validation_problem

T = TypeVar("T")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_CHARS = 512


@dataclass(frozen=True)
class PageRequest:
    """`limit` (1-100) and the decoded cursor: the sort key of the last item seen, or None."""

    limit: int
    after: list[Any] | None


def encode_cursor(sort_key: list[Any]) -> str:
    """Opaque base64url cursor holding the JSON sort key of the last item on a page."""
    raw = json.dumps(sort_key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """Inverse of `encode_cursor`: a flat JSON array of at most `MAX_CURSOR_CHARS` encoded chars.

    Raises:
        Problem: 400 when the cursor is not one this service made.
    """
    value: Any = None
    # Bounded before decoding: a deeply nested JSON array would exhaust the recursion limit.
    if len(cursor) <= MAX_CURSOR_CHARS:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        except (ValueError, binascii.Error, UnicodeEncodeError, RecursionError):
            value = None
    if not isinstance(value, list) or any(isinstance(v, list | dict) for v in value):
        raise validation_problem([{"field": "cursor", "message": "invalid cursor"}])
    return value


def page_request(request: web.Request) -> PageRequest:
    """Read `limit` and `cursor` from the query string (400 on invalid values)."""
    limit = query_int(request, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    cursor = request.query.get("cursor")
    return PageRequest(limit=limit, after=decode_cursor(cursor) if cursor else None)


def page(
    fetched: Sequence[T],
    limit: int,
    sort_key: Callable[[T], list[Any]],
    render: Callable[[T], Any] = lambda item: item,
) -> dict[str, Any]:
    """`{items, next_cursor}` from up to `limit + 1` fetched items (one more = another page).

    `sort_key(item) -> list` gives the cursor key of an item, `render(item)` its JSON form;
    `next_cursor` is None on the last page.
    """
    shown = fetched[:limit]
    more = len(fetched) > limit and bool(shown)
    return {
        "items": [render(item) for item in shown],
        "next_cursor": encode_cursor(sort_key(shown[-1])) if more else None,
    }
