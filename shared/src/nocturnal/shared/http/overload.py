"""Load shedding: a bound on the work a service accepts at once, the excess answered 503 at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import Counter, Gauge

from nocturnal.shared.problems import Problem

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

RETRY_AFTER_S = 1
"""What a shed request is told to wait: the bound frees as soon as one request in hand ends."""

UNBOUNDED_PATHS = ("/health/", "/metrics")
"""Probes and scrapes are never shed: an overloaded instance must still say so, and be seen."""

IN_FLIGHT = Gauge("work_in_flight", "Units of bounded work in hand", ["service", "bound"])
SHED = Counter("work_shed_total", "Requests answered 503 at a full bound", ["service", "bound"])


class InFlightLimit:
    """At most `limit` units of some work (requests, uploads, ...) in hand at once.

    `admit()` takes a unit for the duration of its block, or raises a 503 `Problem` with
    `Retry-After` at once when all `limit` are taken: excess work is refused, never queued, so
    the memory and latency of what is accepted stay bounded at any arrival rate. Not
    thread-safe (one event loop). `bound` names the limit in the `work_in_flight` and
    `work_shed_total` metrics and `detail` is what the 503 says.

    Raises:
        ValueError: `limit` < 1.
    """

    def __init__(self, limit: int, *, service: str, bound: str, detail: str) -> None:
        if limit < 1:
            raise ValueError("an in-flight limit must be >= 1")
        self.limit = limit
        self.in_flight = 0
        self._detail = detail
        self._gauge = IN_FLIGHT.labels(service, bound)
        self._shed = SHED.labels(service, bound)

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one unit while the block runs.

        Raises:
            Problem: 503 with `Retry-After` when `limit` units are already in hand.
        """
        if self.in_flight >= self.limit:
            self._shed.inc()
            raise Problem(503, self._detail, headers={"Retry-After": str(RETRY_AFTER_S)})
        self.in_flight += 1
        self._gauge.set(self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1
            self._gauge.set(self.in_flight)


def sheddable(path: str) -> bool:
    """True when a request for `path` counts against the in-flight bound (not a probe)."""
    return not path.startswith(UNBOUNDED_PATHS)


def in_flight_middleware(limit: int, *, service: str) -> Middleware:
    """A middleware holding at most `limit` requests in the handlers below it (`MAX_IN_FLIGHT`);
    the next is answered 503 problem+json with `Retry-After` without being read further.
    Probes and `/metrics` are not counted.

    Raises:
        ValueError: `limit` < 1.
    """
    requests = InFlightLimit(
        limit,
        service=service,
        bound="requests",
        detail="this instance is at its limit of requests in progress; retry in a moment",
    )

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not sheddable(request.path):
            return await handler(request)
        with requests.admit():
            return await handler(request)

    return middleware
