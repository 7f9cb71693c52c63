"""Keyset (cursor) pagination on MongoDB: one listing order, its cursor filter and its pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from nocturnal.shared.clock import rfc3339
from nocturnal.shared.mongo import Document
from nocturnal.shared.paging import InvalidCursor, Page, PageRequest

T = TypeVar("T")


def after_key(fields: Sequence[str], values: Sequence[Any], *, descending: bool) -> Document:
    """Documents strictly after `values` in the order of `fields` (all ascending or descending).

    For fields (a, b) ascending: `a > va or (a == va and b > vb)`.
    """
    op = "$lt" if descending else "$gt"
    clauses = []
    for index, name in enumerate(fields):
        clause: Document = dict(zip(fields[:index], values[:index], strict=True))
        clause[name] = {op: values[index]}
        clauses.append(clause)
    return {"$or": clauses}


@dataclass(frozen=True)
class Keyset:
    """A listing order on a collection: sort `fields` (the last one unique, e.g. `_id`), all
    ascending or all `descending`. Fields named in `times` hold datetimes.

    The cursor key of a document is its sort values as JSON strings (times in RFC 3339, see
    `nocturnal.shared.clock`); `page` fetches `limit + 1` documents to know whether another page
    follows. Every listing of every service pages this way.
    """

    fields: tuple[str, ...]
    descending: bool = False
    times: frozenset[str] = field(default_factory=frozenset)

    @property
    def sort(self) -> list[tuple[str, int]]:
        """The `sort` argument of `find` for this order."""
        direction = DESCENDING if self.descending else ASCENDING
        return [(name, direction) for name in self.fields]

    def after(self, cursor: Sequence[Any]) -> Document:
        """The filter of the documents after `cursor` (a key made by `key_of`).

        Raises:
            InvalidCursor: the cursor has another length, a value that is not a string, or a
                time that is not an RFC 3339 time with an offset.
        """
        if len(cursor) != len(self.fields) or not all(isinstance(v, str) for v in cursor):
            raise InvalidCursor("invalid cursor")
        values = [
            _time(value) if name in self.times else value
            for name, value in zip(self.fields, cursor, strict=True)
        ]
        return after_key(self.fields, values, descending=self.descending)

    def key_of(self, document: Document) -> list[Any]:
        """The cursor key of `document`: its sort values, times written in RFC 3339."""
        return [
            rfc3339(document[name]) if name in self.times else document[name]
            for name in self.fields
        ]

    async def page(
        self,
        collection: AsyncCollection[Document],
        criteria: Document,
        request: PageRequest,
        load: Callable[[Document], T],
        *,
        session: AsyncClientSession | None = None,
    ) -> Page[T]:
        """The page of documents matching `criteria` after `request.after`, loaded by `load`.

        Raises:
            InvalidCursor: `request.after` is not a key of this order.
        """
        if request.after is not None:
            criteria = {**criteria, **self.after(request.after)}
        found = collection.find(criteria, session=session).sort(self.sort).limit(request.limit + 1)
        documents = [document async for document in found]
        shown = documents[: request.limit]
        more = len(documents) > request.limit and bool(shown)
        return Page(
            [load(document) for document in shown], self.key_of(shown[-1]) if more else None
        )


def _time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidCursor("invalid cursor") from None
    if parsed.tzinfo is None:
        raise InvalidCursor("invalid cursor")
    return parsed


CREATED_OLDEST_FIRST = Keyset(("created_at", "_id"), times=frozenset({"created_at"}))
"""Oldest first by `created_at`, ties broken by `_id`."""

CREATED_NEWEST_FIRST = Keyset(
    ("created_at", "_id"), descending=True, times=frozenset({"created_at"})
)
"""Newest first by `created_at`, ties broken by `_id`."""
