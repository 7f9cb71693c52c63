"""Keyset paging as use cases see it (DESIGN §1: `?limit=1..100&cursor=`, `{items, next_cursor}`).

A listing is ordered by sort fields whose last one is unique; a cursor holds the sort key of the
last item shown, and the next page starts strictly after it. Pure: the HTTP side is
`nocturnal.shared.http.pagination`, the MongoDB side `nocturnal.shared.keyset`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class InvalidCursor(ValueError):
    """The cursor does not hold a sort key of this listing (answered as 400 on `cursor`)."""


@dataclass(frozen=True)
class PageRequest:
    """`limit` (1-100) items after the sort key `after` (None: from the start)."""

    limit: int = DEFAULT_LIMIT
    after: list[Any] | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """Up to `limit` items in listing order; `next_key` is the sort key of the last one when
    another page follows, else None."""

    items: list[T]
    next_key: list[Any] | None = None
