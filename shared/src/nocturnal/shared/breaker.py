"""A circuit breaker (closed / open / half-open) for calls to a backing server or a peer.

After `failure_threshold` consecutive failures the breaker opens: callers skip the call and take
their fallback at once instead of paying a timeout per request. After `open_s` seconds one
half-open probe runs: a call let through, or (given a `probe`) a background check that no
caller waits for; its success closes the breaker, its failure opens it again.
Each state change writes one log line and updates the metrics; nothing is logged per call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TypeVar

from prometheus_client import Counter, Gauge

from nocturnal.shared.logging import get_logger

log = get_logger("breaker")

T = TypeVar("T")


class BreakerState(StrEnum):
    """`closed`: calls pass; `open`: calls are skipped; `half-open`: one probe call passes."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


_STATE_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}

BREAKER_STATE = Gauge(
    "circuit_breaker_state",
    "Circuit breaker state: 0 closed, 1 half-open, 2 open",
    ["breaker"],
)
BREAKER_TRANSITIONS = Counter(
    "circuit_breaker_transitions_total",
    "Circuit breaker state changes, by the state entered",
    ["breaker", "state"],
)
BREAKER_NOT_CLOSED_SECONDS = Counter(
    "circuit_breaker_not_closed_seconds_total",
    "Seconds a circuit breaker spent open or half-open (callers deciding on their fallback)",
    ["breaker"],
)


class BreakerOpen(Exception):
    """Raised by `CircuitBreaker.guard`/`call` when the breaker lets no call through."""

    def __init__(self, name: str) -> None:
        super().__init__(f"circuit breaker {name!r} is open")
        self.name = name


class CircuitBreaker:
    """A consecutive-failure circuit breaker for one dependency, for asyncio code.

    Use either the primitive form (`allow()`, then `success()` or `failure()`; `release()` when
    the call ended without an outcome, e.g. it was cancelled) or `guard()` / `call()`, which
    raise `BreakerOpen` when no call may pass. Not thread-safe: one event loop owns it.

    Args:
        name: the dependency (`redis`, `ratelimit`, `jwks`, ...); the `breaker` metric label
            and the `breaker` field of the log lines.
        failure_threshold: consecutive failures (>= 1) that open the breaker.
        open_s: seconds the breaker stays open before letting one half-open probe through;
            also how long a probe may stay unanswered before another one is allowed.
        clock: monotonic seconds (`time.monotonic`); tests pass a fake.
        probe: an async check of the dependency (True: usable; bound its time yourself). Given
            one, `allow()` starts it in the background when `open_s` has passed and answers
            False, so no caller's request waits on a probe of a dependency that may hang; an
            exception counts as a failed probe. Without one, the next call is the probe.
        opened_message / closed_message: the log line written on opening / closing (warning /
            info); entering half-open logs at debug level.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 3,
        open_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        probe: Callable[[], Awaitable[bool]] | None = None,
        opened_message: str | None = None,
        closed_message: str | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if open_s <= 0:
            raise ValueError("open_s must be > 0")
        self.name = name
        self._threshold = failure_threshold
        self._open_s = open_s
        self._clock = clock
        self._probe = probe
        self._probe_task: asyncio.Task[None] | None = None
        self._opened_message = opened_message or f"circuit breaker {name} open"
        self._closed_message = closed_message or f"circuit breaker {name} closed"
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._changed_at = clock()
        self._probe_since: float | None = None
        self._accounted_at = self._changed_at
        self._not_closed_s = 0.0
        BREAKER_STATE.labels(name).set(0)

    @property
    def state(self) -> BreakerState:
        """The current state (for readiness and metrics); an open breaker whose `open_s` has
        passed still reads `open` until the next `allow()` turns it half-open."""
        return self._state

    @property
    def not_closed_s(self) -> float:
        """Total seconds spent open or half-open so far, the current spell included."""
        self._account()
        return self._not_closed_s

    def allow(self) -> bool:
        """True when a call may go to the dependency now (closed, or this is the half-open probe).

        A caller that gets True must report `success()`, `failure()` or `release()`.
        """
        if self._state is BreakerState.CLOSED:
            return True
        now = self._clock()
        self._account(now)
        if self._state is BreakerState.OPEN:
            if now - self._changed_at < self._open_s:
                return False
            self._enter(BreakerState.HALF_OPEN, now)
        if self._probe_since is not None and now - self._probe_since < self._open_s:
            return False
        self._probe_since = now
        if self._probe is None:
            return True
        self._probe_task = asyncio.get_running_loop().create_task(self._run_probe(self._probe))
        return False

    async def _run_probe(self, probe: Callable[[], Awaitable[bool]]) -> None:
        try:
            usable = await probe()
        except asyncio.CancelledError:
            self.release()
            raise
        except Exception:
            usable = False
        if self._state is not BreakerState.HALF_OPEN:
            return  # a call's outcome decided first
        if usable:
            self.success()
        else:
            self.failure()

    def success(self) -> None:
        """The call succeeded: reset the failure count; a half-open probe closes the breaker."""
        self._failures = 0
        self._probe_since = None
        if self._state is not BreakerState.CLOSED:
            self._enter(BreakerState.CLOSED, self._clock())

    def failure(self) -> None:
        """The call failed or timed out: count it; at the threshold (or on a failed probe)
        the breaker opens for `open_s` seconds."""
        self._failures += 1
        self._probe_since = None
        if self._state is BreakerState.HALF_OPEN or (
            self._state is BreakerState.CLOSED and self._failures >= self._threshold
        ):
            self._enter(BreakerState.OPEN, self._clock())

    def release(self) -> None:
        """The call ended without telling anything about the dependency (e.g. cancelled by the
        caller's client going away): let another probe through."""
        self._probe_since = None

    @contextmanager
    def guard(self, failures: tuple[type[BaseException], ...] = (Exception,)) -> Iterator[None]:
        """Run the body as one call: `BreakerOpen` if none may pass; an exception in `failures`
        counts as a failure (and propagates), any other exception (cancellation included)
        releases; a normal exit is a success. Put the call's own timeout inside the body."""
        if not self.allow():
            raise BreakerOpen(self.name)
        try:
            yield
        except failures:
            self.failure()
            raise
        except BaseException:
            self.release()
            raise
        self.success()

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        failures: tuple[type[BaseException], ...] = (Exception,),
    ) -> T:
        """Await `fn()` under `guard(failures)` and return its result.

        Raises:
            BreakerOpen: no call may pass now.
        """
        with self.guard(failures):
            return await fn()

    def _account(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        if self._state is not BreakerState.CLOSED:
            spent = max(now - self._accounted_at, 0.0)
            self._not_closed_s += spent
            BREAKER_NOT_CLOSED_SECONDS.labels(self.name).inc(spent)
        self._accounted_at = now

    def _enter(self, state: BreakerState, now: float) -> None:
        self._account(now)
        previous, self._state, self._changed_at = self._state, state, now
        if state is not BreakerState.HALF_OPEN:
            self._probe_since = None
        if state is BreakerState.CLOSED:
            self._failures = 0
        BREAKER_STATE.labels(self.name).set(_STATE_VALUE[state])
        BREAKER_TRANSITIONS.labels(self.name, state.value).inc()
        fields = {"breaker": self.name, "state": state.value, "previous": previous.value}
        if state is BreakerState.OPEN and previous is BreakerState.CLOSED:
            log.warning(self._opened_message, **fields, failures=self._failures)
        elif state is BreakerState.CLOSED:
            log.info(self._closed_message, **fields)
        else:
            log.debug(f"circuit breaker {self.name} {state.value}", **fields)
