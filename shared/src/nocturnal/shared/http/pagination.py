"""Cursor pagination (`?limit=1..100&cursor=`), responses `{items, next_cursor}` (DESIGN §1)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from nocturnal.shared.http.request import query_int
from nocturnal.shared.problems import validation_problem

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


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
    """Inverse of `encode_cursor`.

    Raises:
        Problem: 400 when the cursor is not one this service made.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        value = None
    if not isinstance(value, list):
        raise validation_problem([{"field": "cursor", "message": "invalid cursor"}])
    return value


def page_request(request: web.Request) -> PageRequest:
    """Read `limit` and `cursor` from the query string (400 on invalid values)."""
    limit = query_int(request, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    cursor = request.query.get("cursor")
    return PageRequest(limit=limit, after=decode_cursor(cursor) if cursor else None)


def page(items: list[dict[str, Any]], limit: int, sort_key: Any) -> dict[str, Any]:
    """Build `{items, next_cursor}` from up to `limit + 1` fetched items.

    `sort_key(item) -> list` gives the cursor key of an item; `next_cursor` is None on the
    last page.
    """
    more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(sort_key(items[-1])) if more and items else None
    return {"items": items, "next_cursor": next_cursor}
