"""The unit of work a state-changing use case runs in (Cosmic Python's pattern, DESIGN §3).

A use case hands `UnitOfWork.run` a function of one `Transaction`: the repositories bound to
that transaction, and the domain events it publishes. Either the changes and their events are
stored together (transactional outbox) and the relay is woken, or nothing is. Pure: the MongoDB
implementation is `nocturnal.shared.mongo.MongoUnitOfWork`; tests use an in-memory one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True)
class DomainEvent:
    """An event a use case publishes: `name` (the routing key, e.g. `user.registered`), its
    `data` (JSON-serialisable) and the CloudEvents `subject` (e.g. the id of the resource)."""

    name: str
    data: dict[str, Any]
    subject: str | None = None


class Transaction(Generic[R]):
    """One attempt of a unit of work: `repositories` bound to it, and the events published in it
    (stored with its changes when it commits, dropped when it aborts)."""

    def __init__(self, repositories: R) -> None:
        self.repositories = repositories
        self.events: list[DomainEvent] = []

    def publish(self, *events: DomainEvent) -> None:
        """Publish `events` if (and when) this transaction commits."""
        self.events.extend(events)


class UnitOfWork(Protocol[R]):
    """Runs use cases' changes atomically with their events."""

    @property
    def repositories(self) -> R:
        """The repositories outside any transaction (for reads)."""
        ...

    async def run(self, work: Callable[[Transaction[R]], Awaitable[T]]) -> T:
        """Run `work` in one transaction and return its result.

        The changes `work` made through `tx.repositories` and the events of `tx.publish` are
        stored together, or not at all when `work` raises (the error propagates). A transient
        conflict runs `work` again on a fresh transaction, so `work` must be safe to repeat.
        """
        ...
