"""The ratelimit service's use cases (checks, tier overrides, adaptive tiers from login events)
and their ports: the counter store, the tier store, the instance count, the announcer."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from nocturnal.ratelimit import SERVICE
from nocturnal.ratelimit.domain import abuse
from nocturnal.ratelimit.domain.subjects import Subject, TierChange
from nocturnal.shared.breaker import BreakerState, CircuitBreaker
from nocturnal.shared.clock import Clock, utc_now
from nocturnal.shared.logging import get_logger
from nocturnal.shared.metrics import RATELIMIT_DEGRADED
from nocturnal.shared.ratelimit.policies import Decision, Policy, Tier
from nocturnal.shared.ratelimit.sliding_window import SlidingWindowLog, decide_locally
from nocturnal.shared.unit_of_work import DomainEvent

# Component names as the logs have always carried them.
denials_log = get_logger("ratelimit")
tiers_log = get_logger("tiers")


class StoreUnavailable(Exception):
    """Redis did not answer in time, refused the connection or failed the command."""


class UnknownPolicy(LookupError):
    """No policy of that name is configured."""


class CostAboveLimit(ValueError):
    """A check asked for more units than the policy's normal limit could ever allow."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"must be at most the limit {limit}")


class CounterStore(Protocol):
    """The shared sliding-window counters (Redis): decided and counted in one atomic step."""

    async def hit(
        self,
        policy: Policy,
        counter_key: str,
        tier_key: str,
        cost: int,
        *,
        lease: int = 0,
        lease_ms: int = 0,
    ) -> Decision:
        """Count `cost` units on `counter_key` if they fit the tier's limit, and grant a quota
        lease of up to `lease` more units for `lease_ms` (never more than half of what remains;
        counted for the window after the lease ends). Raises StoreUnavailable."""
        ...

    async def ping(self) -> bool:
        """True when the store answers."""
        ...


class InstanceCount(Protocol):
    """How many ratelimit instances are live (degraded mode shares the limit among them)."""

    @property
    def count(self) -> int:
        """At least 1."""
        ...


class TierStore(Protocol):
    """Tier overrides with their TTL, and the failed-login counts behind the adaptive tier."""

    async def put(self, change: TierChange) -> None:
        """Store the override for its TTL, replacing any earlier one. Raises StoreUnavailable."""
        ...

    async def count_failed_login(self, subject: str, event_id: str) -> bool:
        """Count a failed login of `subject` once per event id; True when that made the subject
        strict (see `domain.abuse`). Raises StoreUnavailable."""
        ...

    async def forget_failed_logins(self, subject: str) -> None:
        """Forget the subject's failed logins. Raises StoreUnavailable."""
        ...


class Announcer(Protocol):
    """Publishes an event straight to the broker (no database, hence no outbox); a failure is
    logged, not raised."""

    async def announce(self, event: DomainEvent) -> None:
        """Publish `event`, confirmed."""
        ...


def redis_breaker(
    probe: Callable[[], Awaitable[bool]] | None, clock: Callable[[], float] = time.monotonic
) -> CircuitBreaker:
    """The breaker in front of Redis: one failure or timeout opens it (checks are then decided
    in memory at once, without waiting for a timeout each); each second a background `probe`
    (the store's PING: no check waits on it) looks for Redis again. Without a probe the next
    check is the probe (tests)."""
    return CircuitBreaker(
        "redis",
        failure_threshold=1,
        open_s=1.0,
        clock=clock,
        probe=probe,
        opened_message="using memory store (degraded)",
        closed_message="using Redis store (distributed)",
    )


class SlidingWindowLimiter:
    """Decides checks of the configured `policies`.

    On the shared store (atomic, shared by every instance) while its circuit breaker is closed.
    A failure or timeout of the store opens the breaker: decisions then come at once from a
    per-process `SlidingWindowLog` allowing `ceil(limit / live instances)`, with
    `degraded: true`, until a half-open probe (a check, or the readiness check) finds the store
    again (`redis_breaker`). Degraded decisions grant quota leases from that share too, so a
    caller keeps spending leases without a hop per request while Redis is away. One log line
    per change of store; the local decisions and the time spent degraded are metrics.
    Degraded decisions use the normal tier (overrides live in the store).
    """

    def __init__(
        self,
        policies: Mapping[str, Policy],
        store: CounterStore,
        instances: InstanceCount,
        *,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.policies = policies
        self._store = store
        self._instances = instances
        self.breaker = breaker or redis_breaker(store.ping)
        self._fallback = SlidingWindowLog()

    def policy(self, name: str) -> Policy:
        """The policy called `name`. Raises UnknownPolicy."""
        policy = self.policies.get(name)
        if policy is None:
            raise UnknownPolicy(f"no rate-limit policy {name!r}")
        return policy

    async def check(
        self,
        policy_name: str,
        ip: str,
        *,
        user_id: str | None = None,
        subject: str | None = None,
        cost: int = 1,
        request_id: str | None = None,
        lease: int = 0,
        lease_ms: int = 0,
    ) -> Decision:
        """Count `cost` units of the policy for the client `(ip, subject or user_id)` if they
        fit; the decision. A denial is logged with the caller's `request_id`. `lease` asks for
        a quota lease of up to that many more units, spent by the caller within `lease_ms`
        (a degraded decision grants it from this instance's share, on the same rules).

        Raises:
            UnknownPolicy: no such policy.
            CostAboveLimit: `cost` is above the policy's normal limit.
        """
        policy = self.policy(policy_name)
        if cost > policy.normal:
            raise CostAboveLimit(policy.normal)
        client = Subject.of(ip, user_id=user_id, subject=subject)
        decision = await self._decide(policy, client, cost, lease, lease_ms)
        if not decision.allowed:
            denials_log.info(
                "rate limited",
                policy=policy.name,
                key=client.counter_key(policy.name),
                tier=decision.tier.value,
                caller_request_id=request_id,
            )
        return decision

    async def _decide(
        self, policy: Policy, subject: Subject, cost: int, lease: int, lease_ms: int
    ) -> Decision:
        key = subject.counter_key(policy.name)
        if self.breaker.allow():
            try:
                decision = await self._store.hit(
                    policy,
                    key,
                    subject.tier_key(policy.name),
                    cost,
                    lease=lease if lease_ms > 0 else 0,
                    lease_ms=lease_ms,
                )
            except StoreUnavailable:
                self.breaker.failure()
            except BaseException:
                self.breaker.release()
                raise
            else:
                self.breaker.success()
                return decision
        RATELIMIT_DEGRADED.labels(SERVICE, policy.name).inc()
        return decide_locally(
            self._fallback,
            policy,
            key,
            cost=cost,
            share=self._instances.count,
            lease=lease,
            lease_s=lease_ms / 1000,
        )

    async def store_ready(self) -> bool:
        """The readiness check of the store: the breaker's state. While it is closed a PING
        checks Redis (an idle instance finds it gone without a check); while it is open, asking
        starts the breaker's probe when one is due (an idle instance finds Redis back)."""
        if self.breaker.allow():
            if await self._store.ping():
                self.breaker.success()
            else:
                self.breaker.failure()
        return self.breaker.state is BreakerState.CLOSED


class Tiers:
    """Puts subjects on a tier for a bounded time: by an operator, or after failed logins.

    A change takes effect in the store first, then is announced (`ratelimit.tier_changed`);
    a failed announcement is logged while the change stays in effect.
    """

    def __init__(self, store: TierStore, announcer: Announcer, *, clock: Clock = utc_now):
        self._store = store
        self._announcer = announcer
        self._clock = clock

    async def override(
        self, policy: Policy, subject: str, tier: Tier, *, ttl_s: int, reason: str
    ) -> TierChange:
        """Put `subject` (an IP address stands for its group) on `tier` of `policy` for
        `ttl_s` seconds.

        Raises:
            StoreUnavailable: nothing changed and nothing was announced.
        """
        change = TierChange.starting(
            self._clock(),
            policy=policy.name,
            subject=subject,
            tier=tier,
            ttl_s=ttl_s,
            reason=reason,
        )
        await self._store.put(change)
        await self._announce(change)
        return change

    async def failed_login(self, subject: str, event_id: str) -> None:
        """`user.login_failed`: count it once per event; strict at the threshold.

        Raises:
            StoreUnavailable: the event is then retried.
        """
        if await self._store.count_failed_login(subject, event_id):
            await self._announce(abuse.strict_after_failures(self._clock(), subject))

    async def login(self, subject: str) -> None:
        """`user.login_succeeded`: forget the subject's failed logins (its tier stays until the
        override ends).

        Raises:
            StoreUnavailable: the event is then retried.
        """
        await self._store.forget_failed_logins(subject)

    async def _announce(self, change: TierChange) -> None:
        data = change.to_json()
        tiers_log.info("tier changed", **data)
        await self._announcer.announce(
            DomainEvent("ratelimit.tier_changed", data, subject=change.subject)
        )
