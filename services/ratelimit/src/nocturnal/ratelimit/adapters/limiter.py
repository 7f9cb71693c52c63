"""The limiter the service runs: Redis when it answers, the in-memory log when it does not."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from nocturnal.ratelimit import SERVICE
from nocturnal.ratelimit.adapters.instances import LiveInstances
from nocturnal.ratelimit.adapters.redis_store import RedisSlidingWindow, StoreUnavailable
from nocturnal.ratelimit.domain.subjects import Subject
from nocturnal.shared.logging import get_logger
from nocturnal.shared.metrics import RATELIMIT_DEGRADED
from nocturnal.shared.ratelimit.policies import Decision, Policy
from nocturnal.shared.ratelimit.sliding_window import SlidingWindowLog, decide_locally

log = get_logger("limiter")


class SlidingWindowLimiter:
    """Decides checks of the configured `policies`.

    On Redis (atomic, shared by every instance) whenever it answers in time. Otherwise the
    decision comes from a per-process `SlidingWindowLog` allowing `ceil(limit / live instances)`,
    with `degraded: true`. Every check tries Redis first (no sticky state), so the limiter is
    back on Redis with the first check after it returns. Degraded decisions use the normal tier
    (overrides live in Redis).
    """

    def __init__(
        self, policies: Mapping[str, Policy], store: RedisSlidingWindow, instances: LiveInstances
    ) -> None:
        self.policies = policies
        self.store = store
        self._instances = instances
        self._fallback = SlidingWindowLog()

    async def check(self, policy: Policy, subject: Subject, cost: int) -> Decision:
        """Count `cost` units of `policy` for `subject` if they fit; the decision."""
        key = subject.counter_key(policy.name)
        try:
            return await self.store.hit(policy, key, subject.tier_key(policy.name), cost)
        except StoreUnavailable as exc:
            log.warning("redis unavailable, deciding locally", policy=policy.name, error=str(exc))
        RATELIMIT_DEGRADED.labels(SERVICE, policy.name).inc()
        return decide_locally(self._fallback, policy, key, cost=cost, share=self._instances.count)


LIMITER = web.AppKey("limiter", SlidingWindowLimiter)
