"""In-memory counter store, tier store, instance count and announcer of the ratelimit service."""

from __future__ import annotations

from fakes import Clock

from nocturnal.ratelimit.domain import abuse
from nocturnal.ratelimit.domain.subjects import TierChange, tier_key
from nocturnal.ratelimit.service_layer import (
    SlidingWindowLimiter,
    StoreUnavailable,
    Tiers,
    redis_breaker,
)
from nocturnal.shared.ratelimit.policies import DEFAULT_POLICIES, Decision, Policy, Tier
from nocturnal.shared.ratelimit.sliding_window import SlidingWindowLog, decide_locally
from nocturnal.shared.unit_of_work import DomainEvent


class FakeCounters:
    """`CounterStore` counting in memory; `down` makes it unreachable. Strict subjects are the
    tier keys in `strict`."""

    def __init__(self) -> None:
        self.down = False
        self.strict: set[str] = set()
        self.keys: list[str] = []
        self._log = SlidingWindowLog()

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
        if self.down:
            raise StoreUnavailable("connection refused")
        self.keys.append(counter_key)
        tier = Tier.STRICT if tier_key in self.strict else Tier.NORMAL
        decision = decide_locally(self._log, policy, counter_key, tier=tier, cost=cost)
        return decision.model_copy(update={"degraded": False})

    async def ping(self) -> bool:
        return not self.down


class FakeInstances:
    """`InstanceCount` fixed by the test."""

    def __init__(self, count: int = 1) -> None:
        self.count = count


class FakeTierStore:
    """`TierStore` in dicts, with the failed-login rule of `failed_login.lua`."""

    def __init__(self) -> None:
        self.down = False
        self.overrides: dict[str, Tier] = {}
        self.failures: dict[str, int] = {}
        self._seen: set[str] = set()

    async def put(self, change: TierChange) -> None:
        self._check()
        self.overrides[change.key] = change.tier

    async def count_failed_login(self, subject: str, event_id: str) -> bool:
        self._check()
        if event_id in self._seen:
            return False
        self._seen.add(event_id)
        self.failures[subject] = self.failures.get(subject, 0) + 1
        key = tier_key(abuse.POLICY, subject)
        if self.failures[subject] != abuse.FAILURES_BEFORE_STRICT or key in self.overrides:
            return False
        self.overrides[key] = Tier.STRICT
        return True

    async def forget_failed_logins(self, subject: str) -> None:
        self._check()
        self.failures.pop(subject, None)

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("connection refused")


class FakeAnnouncer:
    """`Announcer` keeping what it was given."""

    def __init__(self) -> None:
        self.announced: list[DomainEvent] = []

    async def announce(self, event: DomainEvent) -> None:
        self.announced.append(event)


class Seconds:
    """A monotonic clock (seconds) that moves only when told to, for the breakers."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeRatelimit:
    """The ratelimit use cases on in-memory stores and a fixed clock."""

    def __init__(self, instances: int = 1) -> None:
        self.counters, self.instances = FakeCounters(), FakeInstances(instances)
        self.tier_store, self.announcer, self.clock = FakeTierStore(), FakeAnnouncer(), Clock()
        self.seconds = Seconds()
        self.breaker = redis_breaker(None, self.seconds)
        self.limiter = SlidingWindowLimiter(
            DEFAULT_POLICIES, self.counters, self.instances, breaker=self.breaker
        )
        self.tiers = Tiers(self.tier_store, self.announcer, clock=self.clock)
