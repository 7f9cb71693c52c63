"""Cursor pagination over HTTP (DESIGN §1): `?limit=1..100&cursor=` in, `{items, next_cursor}` out."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from nocturnal.shared.http.request import query_int
from nocturnal.shared.paging import DEFAULT_LIMIT, MAX_LIMIT, Page, PageRequest
from nocturnal.shared.problems import validation_problem

T = TypeVar("T")
MAX_CURSOR_CHARS = 512


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


def render_page(page: Page[T], render: Callable[[T], Any]) -> dict[str, Any]:
    """`{items, next_cursor}`: each item as `render(item)`; `next_cursor` None on the last page."""
    return {
        "items": [render(item) for item in page.items],
        "next_cursor": encode_cursor(page.next_key) if page.next_key is not None else None,
    }
