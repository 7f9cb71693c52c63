"""Cursor pagination over HTTP (DESIGN §1): `?limit=1..100&cursor=` in, `{items, next_cursor}` out."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from aiohttp import web
from pydantic import Field
from typing_extensions import TypedDict

from nocturnal.shared.http.request import QueryModel, integer_in, parse_query
from nocturnal.shared.paging import DEFAULT_LIMIT, MAX_LIMIT, Page, PageRequest
from nocturnal.shared.problems import validation_problem

T = TypeVar("T")
ItemT = TypeVar("ItemT")
MAX_CURSOR_CHARS = 512


class PageQuery(QueryModel):
    """`?limit=&cursor=` of every listing."""

    limit: Annotated[
        int,
        Field(ge=1, le=MAX_LIMIT, description="How many items, at most."),
        integer_in(1, MAX_LIMIT),
    ] = DEFAULT_LIMIT
    # Checked by decode_cursor, whose limit the schema shows.
    cursor: Annotated[
        str | None,
        Field(
            description="`next_cursor` of the previous page; absent or empty: the first page.",
            json_schema_extra={"maxLength": MAX_CURSOR_CHARS},
        ),
    ] = None


class PageBody(TypedDict, Generic[ItemT]):
    """One page of a listing: its `items`, and `next_cursor` to ask for the next page with
    (null on the last page)."""

    items: list[ItemT]
    next_cursor: str | None


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
    """Read `limit` and `cursor` from the query string (`PageQuery`; 400 on invalid values)."""
    return page_of(parse_query(request, PageQuery))


def page_of(query: PageQuery) -> PageRequest:
    """The page a parsed `PageQuery` (or a query model extending it) asks for (400 on a cursor
    this service did not make)."""
    cursor = query.cursor
    return PageRequest(limit=query.limit, after=decode_cursor(cursor) if cursor else None)


def render_page(page: Page[T], render: Callable[[T], ItemT]) -> PageBody[ItemT]:
    """`{items, next_cursor}`: each item as `render(item)`; `next_cursor` None on the last page."""
    return {
        "items": [render(item) for item in page.items],
        "next_cursor": encode_cursor(page.next_key) if page.next_key is not None else None,
    }
