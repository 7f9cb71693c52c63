"""Load shedding: a bound on the work a service accepts at once, the excess answered 503 at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge

from nocturnal.shared.problems import Problem

RETRY_AFTER_S = 1
"""What a shed request is told to wait: the bound frees as soon as one request in hand ends."""

UNBOUNDED_PATHS = ("/health/", "/metrics")
"""Probes and scrapes are never shed: an overloaded instance must still say so, and be seen."""

IN_FLIGHT = Gauge("work_in_flight", "Units of bounded work in hand", ["service", "bound"])
SHED = Counter("work_shed_total", "Requests answered 503 at a full bound", ["service", "bound"])


class InFlightLimit:
    """At most `limit` units of some work (requests, uploads, ...) in hand at once.

    `admit()` takes a unit for the duration of its block (or `take()` and, once done, `give()`),
    and raises a 503 `Problem` with `Retry-After` at once when all `limit` are taken: excess
    work is refused, never queued, so the memory and latency of what is accepted stay bounded at
    any arrival rate. Not thread-safe (one event loop). `bound` names the limit in the
    `work_in_flight` (read when scraped) and `work_shed_total` metrics and `detail` is what the
    503 says.

    Raises:
        ValueError: `limit` < 1.
    """

    def __init__(self, limit: int, *, service: str, bound: str, detail: str) -> None:
        if limit < 1:
            raise ValueError("an in-flight limit must be >= 1")
        self.limit = limit
        self.in_flight = 0
        self._detail = detail
        IN_FLIGHT.labels(service, bound).set_function(lambda: self.in_flight)
        self._shed = SHED.labels(service, bound)

    def take(self) -> None:
        """Take one unit; `give()` it back when the work ends.

        Raises:
            Problem: 503 with `Retry-After` when `limit` units are already in hand.
        """
        if self.in_flight >= self.limit:
            self._shed.inc()
            raise Problem(503, self._detail, headers={"Retry-After": str(RETRY_AFTER_S)})
        self.in_flight += 1

    def give(self) -> None:
        """Give back a unit `take()` took."""
        self.in_flight -= 1

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one unit while the block runs.

        Raises:
            Problem: 503 with `Retry-After` when `limit` units are already in hand.
        """
        self.take()
        try:
            yield
        finally:
            self.give()


def sheddable(path: str) -> bool:
    """True when a request for `path` counts against the in-flight bound (not a probe)."""
    return not path.startswith(UNBOUNDED_PATHS)


def request_limit(limit: int, *, service: str) -> InFlightLimit:
    """The bound on the requests one instance handles at once (`MAX_IN_FLIGHT`): the next is
    answered 503 problem+json with `Retry-After` without being read further. Probes and
    `/metrics` are not counted (`sheddable`).

    Raises:
        ValueError: `limit` < 1.
    """
    return InFlightLimit(
        limit,
        service=service,
        bound="requests",
        detail="this instance is at its limit of requests in progress; retry in a moment",
    )
