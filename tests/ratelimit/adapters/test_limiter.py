"""The limiter's degraded mode: local decisions while Redis is away, back to Redis on its own."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from polling import eventually
from redis.asyncio import Redis

from nocturnal.ratelimit.adapters.redis_store import RedisSlidingWindow, connect
from nocturnal.ratelimit.service_layer import SlidingWindowLimiter, redis_breaker
from nocturnal.shared.breaker import BreakerState
from nocturnal.shared.ratelimit.instances import LiveInstances
from nocturnal.shared.ratelimit.policies import Decision, Policy
from ratelimit.fakes import Seconds
from ratelimit.private_redis import PrivateRedis

# Integration without the shared fixtures: private, dead and silent Redis servers of its own.
pytestmark = pytest.mark.integration
CLIENT = {"subject": "s1"}
IP = "198.51.100.4"


@pytest.fixture
def private_redis(unused_tcp_port: int) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server to stop and restart a Redis of its own")
    server = PrivateRedis(unused_tcp_port)
    server.start()
    yield server
    server.stop()


def limiter_on(
    client: Redis, policy: Policy, *, instances: int = 1, seconds: Seconds | None = None
) -> SlidingWindowLimiter:
    store = RedisSlidingWindow(client)
    return SlidingWindowLimiter(
        {policy.name: policy},
        store,
        LiveInstances(None, configured=instances),
        breaker=redis_breaker(store.ping, seconds or Seconds()),
    )


async def until_closed(limiter: SlidingWindowLimiter) -> None:
    """Ask readiness (which starts the breaker's due probe) until the probe closed the breaker."""
    await eventually(limiter.store_ready, "the Redis breaker to close")


@pytest.fixture
async def dead_redis(unused_tcp_port: int) -> AsyncIterator[Redis]:
    client = connect(f"redis://127.0.0.1:{unused_tcp_port}/0", timeout_s=0.05)
    yield client
    await client.aclose()


async def test_without_redis_checks_are_decided_locally_and_still_limited(
    dead_redis: Redis, short: Policy
) -> None:
    limiter = limiter_on(dead_redis, short)
    decisions = [await limiter.check(short.name, IP, **CLIENT) for _ in range(4)]
    assert all(d.degraded for d in decisions)
    assert [d.allowed for d in decisions] == [True, True, True, False]


class CountingStore(RedisSlidingWindow):
    """The Redis store, counting the checks that reached it."""

    hits = 0

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
        self.hits += 1
        return await super().hit(
            policy, counter_key, tier_key, cost, lease=lease, lease_ms=lease_ms
        )


async def test_a_hanging_redis_costs_one_timeout_then_checks_are_local_until_it_answers(
    private_redis: PrivateRedis, short: Policy
) -> None:
    client = connect(private_redis.url, timeout_s=0.1)
    store = CountingStore(client)
    seconds = Seconds()
    limiter = SlidingWindowLimiter(
        {short.name: short},
        store,
        LiveInstances(None),
        breaker=redis_breaker(store.ping, seconds),
    )
    try:
        assert not (await limiter.check(short.name, IP, **CLIENT)).degraded
        sleeping = await private_redis.hang(1)
        decisions = [await limiter.check(short.name, IP, **CLIENT) for _ in range(20)]
        assert all(d.degraded for d in decisions)
        assert store.hits == 2  # the check before the hang, and one that waited for it
        assert limiter.breaker.state is BreakerState.OPEN
        await sleeping
        seconds.now += 1.0
        await until_closed(limiter)  # the background probe found Redis answering
        assert store.hits == 2
        assert not (await limiter.check(short.name, IP, **CLIENT)).degraded
    finally:
        await client.aclose()


async def test_degraded_instances_share_the_limit(dead_redis: Redis, wide: Policy) -> None:
    limiter = limiter_on(dead_redis, wide, instances=3)
    decisions = [await limiter.check(wide.name, IP, **CLIENT) for _ in range(5)]
    # ceil(10 / 3) = 4 here; the decision still names the configured quota (issue 10: a
    # client never sees a policy that is not configured), `remaining` is this share's.
    assert (decisions[0].limit, decisions[0].remaining) == (10, 3)
    assert [d.allowed for d in decisions] == [True, True, True, True, False]


async def test_the_limiter_returns_to_redis_when_it_comes_back(
    private_redis: PrivateRedis, short: Policy
) -> None:
    client = connect(private_redis.url, timeout_s=0.05)
    seconds = Seconds()
    limiter = limiter_on(client, short, seconds=seconds)
    try:
        assert not (await limiter.check(short.name, IP, **CLIENT)).degraded
        private_redis.stop()
        assert (await limiter.check(short.name, IP, **CLIENT)).degraded
        private_redis.start()
        seconds.now += 1.0  # the breaker's next probe is due
        assert (await limiter.check(short.name, IP, **CLIENT)).degraded  # starts the probe
        await until_closed(limiter)
        back = await limiter.check(short.name, IP, **CLIENT)
        assert not back.degraded
        assert back.remaining == 2  # the restarted Redis kept nothing: counted afresh
    finally:
        await client.aclose()


async def test_right_after_a_restart_redis_is_ready_and_used_at_once(
    private_redis: PrivateRedis, short: Policy
) -> None:
    client = connect(private_redis.url, timeout_s=0.05)
    limiter = limiter_on(client, short)
    try:
        assert await limiter.store_ready()  # a pooled connection now exists
        private_redis.stop()
        private_redis.start()
        # The pooled connection died with the old server: its one retry reconnects.
        assert await limiter.store_ready()
        assert not (await limiter.check(short.name, IP, **CLIENT)).degraded
    finally:
        await client.aclose()
