"""The ratelimit service's client (`POST /v1/check`), falling back to local decisions that keep
the service's contract: its policies, shared among the live instances of the calling service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from pydantic import BaseModel, ValidationError

from nocturnal.shared.breaker import BreakerState, CircuitBreaker
from nocturnal.shared.logging import get_logger
from nocturnal.shared.metrics import RATELIMIT_DEGRADED, RATELIMIT_HEDGE_DEADLINE, RATELIMIT_HEDGED
from nocturnal.shared.ratelimit.hedge import HedgeDeadline
from nocturnal.shared.ratelimit.instances import LiveInstances
from nocturnal.shared.ratelimit.policies import DEFAULT_POLICIES, Decision, Policy, limit_key
from nocturnal.shared.ratelimit.sliding_window import SlidingWindowLog, decide_locally

log = get_logger("ratelimit")

_FAILURES = (aiohttp.ClientError, TimeoutError, ValidationError, ValueError)
MAX_KEYS = 10_000  # leases and recent-check counts kept, oldest dropped first


@dataclass
class _Lease:
    """Units of a key granted by the service, spendable here until `expires` (our clock)."""

    units: int
    expires: float
    decision: Decision


@dataclass
class _Recent:
    """How many checks of a key this instance saw since `since` (within one lease lifetime)."""

    since: float
    checks: int


class _PolicyItem(BaseModel):
    name: str
    window_s: int
    normal: int
    strict: int


class _PolicyList(BaseModel):
    items: list[_PolicyItem]


def service_breaker(
    probe: Callable[[], Awaitable[bool]], clock: Callable[[], float] = time.monotonic
) -> CircuitBreaker:
    """The breaker in front of the ratelimit service: one failure or timeout opens it (every
    check then decides locally at once); each second a background `probe` (no request waits
    on it) looks for the service again."""
    return CircuitBreaker(
        "ratelimit",
        failure_threshold=1,
        open_s=1.0,
        clock=clock,
        probe=probe,
        opened_message="ratelimit service unreachable",
        closed_message="ratelimit service reachable again",
    )


class RateLimitClient:
    """Client of the ratelimit service's `POST /v1/check`, with a local fallback.

    Each check times out after `timeout_s` (keep it small, e.g. 0.25 s). A failure, a timeout
    or a 5xx opens the circuit breaker (`service_breaker`): checks are then decided at once
    from a local `SlidingWindowLog` (`degraded: true`, counted in
    `ratelimit_degraded_decisions_total`) until a background probe (`GET /v1/policies`, which
    also refreshes the policies) finds the service again. The fallback uses the service's own
    policy table (`GET /v1/policies`, fetched by `refresh()`; `policies` until the first
    answer, which must come from the same configuration as the service's) and allows
    `ceil(limit / instances.count)` units per window in this instance, as the service's own
    degraded mode does. Degraded decisions use the normal tier.

    Hedging (so a hang costs the requests in flight a few milliseconds, not a timeout each):
    each call to the service runs as a background task, and its check waits for it at most a
    hedge deadline, `SRTT + 4·RTTVAR` of the service's answers (RFC 6298, `HedgeDeadline`),
    at least `hedge_floor_s` and at most `timeout_s`. Past it the check is decided from the
    same local window as a degraded one (`degraded: true`, counted in
    `ratelimit_hedged_decisions_total` instead) while the call goes on: its failure or timeout
    still opens the breaker, its answer still feeds the estimator. While a call is past its
    deadline with no answer from the service since ("overdue"), new checks are decided locally
    at once, their calls still sent (so recovery is seen) but asking for no lease; when the
    breaker opens, every check waiting on the service is decided locally at once. A lease that
    a hedged check's call brings late is kept (when its key holds none) and spent here. `hedge_floor_s >= timeout_s` turns
    hedging off (every check waits for its answer or its timeout). `close()` cancels the calls
    still running.

    Quota leases (DESIGN §1): a key checked more than once here within `lease_ms` asks the
    service for a lease of as many units as it was checked in that time (at most `max_lease`);
    the service counts them with the check (never more than half of what remains, so a key
    near its limit is checked one request at a time) and keeps them counted for the window
    after the lease ends. Checks of that key are then answered here from the lease, without the
    hop, until its units are spent or `lease_ms` (from before the request: never past the
    service's end of the lease) has passed. One check per key asks for a lease at a time: the
    others wait for it once and spend from the lease it brings (none is replaced); when it
    brought none (a key near its limit gets none) they go to the service side by side.
    Unspent units expire with the lease: a key can lose at most about one lease lifetime of
    its own recent rate. `lease_ms=0` turns leases off.

    Args:
        session: the HTTP session (not closed here).
        base_url: the service, e.g. `http://ratelimit`.
        service: the calling service's name (a metric label).
        timeout_s: bound on one check or policy fetch, in seconds.
        policies: the policy table until the service has answered `refresh()`.
        instances: the calling service's live instance count (default: one).
        clock: monotonic seconds, of the breaker and the leases (tests pass a fake).
        lease_ms: a lease's lifetime in milliseconds (0: no leases).
        max_lease: the most units one lease asks for.
        hedge_floor_s: the least hedge deadline, in seconds.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        service: str,
        timeout_s: float = 0.25,
        policies: Mapping[str, Policy] = DEFAULT_POLICIES,
        instances: LiveInstances | None = None,
        clock: Callable[[], float] = time.monotonic,
        lease_ms: int = 1000,
        max_lease: int = 100,
        hedge_floor_s: float = 0.02,
    ) -> None:
        self._session = session
        base = base_url.rstrip("/")
        self._check_url = f"{base}/v1/check"
        self._policies_url = f"{base}/v1/policies"
        self._service = service
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.policies: Mapping[str, Policy] = dict(policies)
        self.instances = instances or LiveInstances(None)
        self.breaker = service_breaker(self._fetch_policies, clock)
        self._fallback = SlidingWindowLog()
        self._clock = clock
        self._lease_s = lease_ms / 1000
        self._lease_ms = lease_ms
        self._max_lease = max_lease
        self._leases: dict[str, _Lease] = {}
        self._recent: dict[str, _Recent] = {}
        self._in_flight: dict[str, asyncio.Future[None]] = {}
        self.deadline = HedgeDeadline(floor_s=hedge_floor_s, cap_s=timeout_s)
        self._calls: set[asyncio.Task[Decision | None]] = set()
        self._opened: asyncio.Future[None] | None = None  # set when a call opens the breaker
        self._overdue = False
        # Read when scraped: no gauge update on each answer of the service.
        RATELIMIT_HEDGE_DEADLINE.labels(service).set_function(lambda: self.deadline.seconds)

    async def check(
        self,
        policy: str,
        ip: str,
        *,
        user_id: str | None = None,
        subject: str | None = None,
        cost: int = 1,
        request_id: str | None = None,
    ) -> Decision:
        """Count `cost` units of `policy` for (ip, subject or user_id) and return the decision.

        Raises:
            KeyError: `policy` is in neither the service's table nor the configured one.
        """
        key = limit_key(policy, ip, subject or user_id)
        self._count_check(key, self._clock())
        waited = False
        while True:
            now = self._clock()
            leased = self._spend(key, cost, now)
            if leased is not None:
                return leased
            pending = self._in_flight.get(key)
            if pending is None or waited:
                break
            # The lease the check in flight may bring could cover this one: wait for it once
            # (never queue behind check after check: a key near its limit gets no lease).
            await asyncio.shield(pending)
            waited = True
        body: dict[str, Any] = {"policy": policy, "ip": ip, "cost": cost}
        for name, value in (("user_id", user_id), ("subject", subject), ("request_id", request_id)):
            if value:
                body[name] = value
        leader = key not in self._in_flight  # only one check per key asks for a lease
        wanted = self._lease_wanted(key) if leader else 0
        if wanted:
            body["lease"], body["lease_ms"] = wanted, self._lease_ms
        if self.breaker.allow():
            flight = asyncio.get_running_loop().create_future()
            if leader:
                self._in_flight[key] = flight
            try:
                decision, hedged = await self._ask(body, key, now)
            finally:
                if leader:
                    del self._in_flight[key]
                flight.set_result(None)
            if decision is not None:
                return self._keep_lease(key, decision, now)
            if hedged:
                RATELIMIT_HEDGED.labels(self._service, policy).inc()
                return self._decide_locally(policy, key, cost)
        RATELIMIT_DEGRADED.labels(self._service, policy).inc()
        return self._decide_locally(policy, key, cost)

    def _decide_locally(self, policy: str, key: str, cost: int) -> Decision:
        # Hedged and degraded decisions share one window: together they never allow more
        # than this instance's share of the limit.
        return decide_locally(
            self._fallback, self.policies[policy], key, cost=cost, share=self.instances.count
        )

    async def _ask(
        self, body: dict[str, Any], key: str, sent: float
    ) -> tuple[Decision | None, bool]:
        """Send one check; (the service's decision or None, whether the check was hedged)."""
        loop = asyncio.get_running_loop()
        if self._overdue:
            # Decided here at once; the call only tells whether the service is back, so it
            # asks for no lease (units counted for a lease nobody waits for would be lost).
            body.pop("lease", None)
            body.pop("lease_ms", None)
            self._send(body)
            return None, True
        call = self._send(body)
        if self._opened is None:
            self._opened = loop.create_future()
        opened = self._opened
        deadline = self.deadline.seconds
        done, _ = await asyncio.wait(
            (call, opened),
            # At the cap, the call's own timeout ends the wait (and opens the breaker).
            timeout=deadline if deadline < self.deadline.cap_s else None,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if call in done:
            return call.result(), False
        if opened in done:
            return None, False  # the breaker opened: decided locally as degraded
        self._overdue = True
        if "lease" in body:  # a lease it brings late is still spendable here
            call.add_done_callback(lambda late: self._keep_late_lease(key, late, sent))
        return None, True

    def _send(self, body: dict[str, Any]) -> asyncio.Task[Decision | None]:
        call = asyncio.get_running_loop().create_task(self._remote(body))
        self._calls.add(call)
        call.add_done_callback(self._call_ended)
        return call

    def _call_ended(self, call: asyncio.Task[Decision | None]) -> None:
        self._calls.discard(call)
        if not call.cancelled() and call.exception() is not None:
            log.error("ratelimit check failed", error=repr(call.exception()))

    def _keep_late_lease(self, key: str, call: asyncio.Task[Decision | None], sent: float) -> None:
        if call.cancelled() or call.exception() is not None or key in self._leases:
            return
        decision = call.result()
        if decision is not None:
            self._keep_lease(key, decision, sent)

    def _spend(self, key: str, cost: int, now: float) -> Decision | None:
        lease = self._leases.get(key)
        if lease is None:
            return None
        if now >= lease.expires or lease.units < cost:
            del self._leases[key]  # what is left expires with the lease on the service
            return None
        lease.units -= cost
        return lease.decision.model_copy(
            update={"remaining": lease.decision.remaining + lease.units}
        )

    def _lease_wanted(self, key: str) -> int:
        recent = self._recent.get(key)
        checks = recent.checks if recent is not None else 0
        return 0 if self._lease_ms <= 0 or checks < 2 else min(checks, self._max_lease)

    def _count_check(self, key: str, now: float) -> None:
        recent = self._recent.get(key)
        if recent is None or now - recent.since >= self._lease_s:
            recent = self._recent[key] = _Recent(now, 0)
            _bound(self._recent)
        recent.checks += 1

    def _keep_lease(self, key: str, decision: Decision, sent: float) -> Decision:
        if not decision.lease:
            return decision
        kept = decision.model_copy(update={"lease": 0})
        self._leases[key] = _Lease(decision.lease, sent + self._lease_s, kept)
        _bound(self._leases)
        return kept.model_copy(update={"remaining": kept.remaining + decision.lease})

    async def _remote(self, body: dict[str, Any]) -> Decision | None:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        try:
            async with self._session.post(
                self._check_url, json=body, timeout=self._timeout
            ) as resp:
                self._overdue = False  # the service answers again
                if resp.status == 200:
                    decision = Decision.model_validate(await resp.json())
                    self.deadline.sample(loop.time() - sent)
                    self.breaker.success()
                    return decision
                if resp.status >= 500:
                    self._failed()
                    return None
                # The service is up but refused this check: a caller bug, not an outage.
                self.breaker.success()
                log.error("ratelimit check refused", status=resp.status, policy=body["policy"])
                return None
        except _FAILURES:
            self._failed()
            return None
        except BaseException:
            self.breaker.release()
            raise

    def _failed(self) -> None:
        self.breaker.failure()
        if self.breaker.state is BreakerState.OPEN and self._opened is not None:
            # Every check waiting on the service decides locally now, not at its deadline.
            self._opened.set_result(None)
            self._opened = None

    async def close(self) -> None:
        """Cancel the calls to the service still running (hedged checks leave them behind)
        and wait for them to end."""
        calls = list(self._calls)
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

    async def refresh(self) -> None:
        """Fetch the service's policy table (kept when the service does not answer) and count
        this service's live instances again."""
        await self.instances.refresh()
        await self._fetch_policies()

    async def _fetch_policies(self) -> bool:
        try:
            async with self._session.get(self._policies_url, timeout=self._timeout) as resp:
                resp.raise_for_status()
                items = _PolicyList.model_validate(await resp.json()).items
        except _FAILURES as exc:
            log.debug("ratelimit policies not fetched", error=repr(exc))
            return False
        self._overdue = False
        table = {p.name: Policy(p.name, p.window_s, p.normal, p.strict) for p in items}
        if table != self.policies:
            log.info("ratelimit policies loaded", policies=sorted(table))
            self.policies = table
        return True

    async def run(self, interval_s: float) -> None:
        """`refresh()` every `interval_s` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            await self.refresh()

    async def ready(self) -> bool:
        """A readiness check: True while the breaker is closed (checks go to the service)."""
        return self.breaker.state is BreakerState.CLOSED


def _bound(table: dict[str, Any]) -> None:
    while len(table) > MAX_KEYS:
        del table[next(iter(table))]
