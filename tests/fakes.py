"""In-memory stand-ins every service's unit tests share: a unit of work, a clock, ids, paging.

Cosmic Python's pattern: the use cases run on these in milliseconds; the integration tests
prove the real adapters against real servers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from nocturnal.shared.paging import InvalidCursor, Page, PageRequest
from nocturnal.shared.unit_of_work import DomainEvent, Transaction

R = TypeVar("R")
T = TypeVar("T")

START = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)


class FakeUnitOfWork(Generic[R]):
    """A `UnitOfWork` over in-memory repositories: `published` holds the events of every
    committed transaction, in order. A failing use case keeps the events it published out of
    `published` (its repository writes are not rolled back: tests must not rely on that)."""

    def __init__(self, repositories: R) -> None:
        self.repositories = repositories
        self.published: list[DomainEvent] = []
        self.commits = 0

    async def run(self, work: Callable[[Transaction[R]], Awaitable[T]]) -> T:
        tx = Transaction(self.repositories)
        result = await work(tx)
        self.commits += 1
        self.published.extend(tx.events)
        return result

    def transaction(self) -> Transaction[R]:
        """A transaction as an inbox consumer would hand one to an event handler."""
        return Transaction(self.repositories)

    def names(self) -> list[str]:
        """The names of the published events, in order."""
        return [event.name for event in self.published]


class FakeErasureLedger:
    """An erasure ledger (`nocturnal.shared.erasure`'s port) in a dict: `erased` maps the
    erased users to when; `claims` lists the users claimed, in order."""

    def __init__(self) -> None:
        self.erased: dict[str, datetime] = {}
        self.claims: list[str] = []

    async def claim(self, user_id: str) -> bool:
        self.claims.append(user_id)
        return user_id not in self.erased

    async def mark_erased(self, user_id: str, now: datetime) -> None:
        self.erased.setdefault(user_id, now)


class Clock:
    """A clock that moves only when told to (`advance`)."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class Ids:
    """Predictable ids: `id-1`, `id-2`, ..."""

    def __init__(self, prefix: str = "id") -> None:
        self._prefix = prefix
        self._count = 0

    def __call__(self) -> str:
        self._count += 1
        return f"{self._prefix}-{self._count}"


def page_of(
    items: Iterable[T],
    request: PageRequest,
    key: Callable[[T], list[Any]],
    *,
    descending: bool = False,
) -> Page[T]:
    """A keyset page of `items` ordered by `key` (lists of strings), as a repository pages.

    Raises:
        InvalidCursor: the cursor is not a key of that shape.
    """
    ordered = sorted(items, key=key, reverse=descending)
    after = request.after
    if after is not None:
        shape = len(key(ordered[0])) if ordered else len(after)
        if len(after) != shape or not all(isinstance(value, str) for value in after):
            raise InvalidCursor("invalid cursor")
        cursor = after
        ordered = [
            item for item in ordered if (key(item) < cursor if descending else key(item) > cursor)
        ]
    shown = ordered[: request.limit]
    more = len(ordered) > request.limit and bool(shown)
    return Page(shown, key(shown[-1]) if more else None)
