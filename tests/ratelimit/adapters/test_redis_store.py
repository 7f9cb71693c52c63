"""The Redis sliding window, against the real Redis: semantics, atomicity, TTLs, tiers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from nocturnal.ratelimit.adapters.redis_store import RedisSlidingWindow, connect
from nocturnal.ratelimit.domain.subjects import Subject
from nocturnal.ratelimit.service_layer import StoreUnavailable
from nocturnal.shared.ratelimit.policies import Decision, Policy, Tier

# Integration: the real Redis (one test an unreachable one, which no fixture names).
pytestmark = pytest.mark.integration
CLIENT = Subject.of("203.0.113.7", user_id="u1", subject=None)


@pytest.fixture
async def store(redis_url: str, redis: Redis) -> AsyncIterator[RedisSlidingWindow]:
    # Generous: a burst opens up to 32 connections to the shared Redis, whose handshakes took
    # over 1 s on a loaded machine. Timeouts have their own test, on their own client.
    client = connect(redis_url, timeout_s=5.0)
    yield RedisSlidingWindow(client)
    await client.aclose()


async def hit(
    store: RedisSlidingWindow, policy: Policy, cost: int = 1, subject: Subject = CLIENT
) -> Decision:
    return await store.hit(
        policy, subject.counter_key(policy.name), subject.tier_key(policy.name), cost
    )


async def test_exactly_the_limit_is_allowed_then_denied_with_a_sane_retry_after(
    store: RedisSlidingWindow, short: Policy
) -> None:
    decisions = [await hit(store, short) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    denied = decisions[-1]
    assert (denied.limit, denied.tier, denied.window_s, denied.degraded) == (
        3,
        Tier.NORMAL,
        2,
        False,
    )
    assert 1 <= denied.retry_after_s <= 2
    assert 1 <= denied.reset_s <= 2
    assert all(d.retry_after_s == 0 for d in decisions[:3])


async def test_denied_checks_consume_nothing_and_units_leave_one_by_one(
    store: RedisSlidingWindow, short: Policy
) -> None:
    assert (await hit(store, short)).allowed
    await asyncio.sleep(1.0)
    assert (await hit(store, short, cost=2)).allowed
    for _ in range(20):
        assert not (await hit(store, short)).allowed
    await asyncio.sleep(1.1)
    # Only the first unit has left the window; had denials counted, nothing would pass.
    after = await hit(store, short)
    assert (after.allowed, after.remaining) == (True, 0)
    assert not (await hit(store, short)).allowed


async def test_the_whole_limit_returns_once_the_window_has_slid_past(
    store: RedisSlidingWindow, short: Policy
) -> None:
    for _ in range(3):
        assert (await hit(store, short)).allowed
    await asyncio.sleep(short.window_s + 0.1)
    assert [(await hit(store, short)).allowed for _ in range(4)] == [True, True, True, False]


async def test_concurrent_checks_never_allow_more_than_the_limit(
    store: RedisSlidingWindow, wide: Policy
) -> None:
    decisions = await asyncio.gather(*(hit(store, wide) for _ in range(50)))
    assert sum(d.allowed for d in decisions) == wide.normal
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(wide.normal))


async def test_the_counter_key_has_a_ttl_within_the_window(
    store: RedisSlidingWindow, short: Policy, redis: Redis
) -> None:
    await hit(store, short)
    ttl = await redis.pttl(CLIENT.counter_key(short.name))
    assert 0 < ttl <= short.window_s * 1000


async def test_the_counter_key_expires_with_its_newest_unit(
    store: RedisSlidingWindow, short: Policy, redis: Redis
) -> None:
    await hit(store, short)
    await asyncio.sleep(short.window_s + 0.1)
    assert not await redis.exists(CLIENT.counter_key(short.name))


async def test_a_cost_counts_that_many_units_and_must_fit_whole(
    store: RedisSlidingWindow, wide: Policy
) -> None:
    first = await hit(store, wide, cost=4)
    assert (first.allowed, first.remaining) == (True, 6)
    too_big = await hit(store, wide, cost=7)
    assert (too_big.allowed, too_big.remaining) == (False, 6)
    assert 1 <= too_big.retry_after_s <= wide.window_s
    assert (await hit(store, wide, cost=6)).allowed
    assert not (await hit(store, wide)).allowed


async def test_strict_tier_lowers_the_limit_of_the_same_counter(
    store: RedisSlidingWindow, wide: Policy, redis: Redis
) -> None:
    for _ in range(4):
        assert (await hit(store, wide)).allowed
    await redis.set(CLIENT.tier_key(wide.name), "strict", ex=60)
    strict = await hit(store, wide)
    assert (strict.allowed, strict.tier, strict.limit, strict.remaining) == (
        True,
        Tier.STRICT,
        5,
        0,
    )
    denied = await hit(store, wide)
    assert (denied.allowed, denied.tier) == (False, Tier.STRICT)


async def test_a_subject_over_the_strict_limit_has_no_remaining_units(
    store: RedisSlidingWindow, wide: Policy, redis: Redis
) -> None:
    assert (await hit(store, wide, cost=8)).allowed
    await redis.set(CLIENT.tier_key(wide.name), "strict", ex=60)
    denied = await hit(store, wide)
    assert (denied.allowed, denied.remaining, denied.limit) == (False, 0, 5)
    assert 1 <= denied.retry_after_s <= wide.window_s


async def test_a_cost_above_the_strict_limit_waits_for_the_override_to_end(
    store: RedisSlidingWindow, wide: Policy, redis: Redis
) -> None:
    await redis.set(CLIENT.tier_key(wide.name), "strict", ex=30)
    denied = await hit(store, wide, cost=6)
    assert (denied.allowed, denied.remaining) == (False, 5)
    assert 29 <= denied.retry_after_s <= 30


async def test_the_strict_tier_ends_on_its_own(
    store: RedisSlidingWindow, short: Policy, redis: Redis
) -> None:
    await redis.set(CLIENT.tier_key(short.name), "strict", ex=1)
    assert (await hit(store, short)).tier is Tier.STRICT
    await asyncio.sleep(1.1)
    back = await hit(store, short)
    assert (back.tier, back.limit, back.remaining) == (Tier.NORMAL, 3, 1)


async def test_a_normal_override_keeps_the_normal_limit(
    store: RedisSlidingWindow, short: Policy, redis: Redis
) -> None:
    await redis.set(CLIENT.tier_key(short.name), "normal", ex=60)
    assert (await hit(store, short)).limit == short.normal


async def test_different_subjects_and_addresses_have_separate_counters(
    store: RedisSlidingWindow, short: Policy
) -> None:
    assert (await hit(store, short, cost=3)).allowed
    others = [
        Subject.of("203.0.113.7", user_id="u2", subject=None),
        Subject.of("203.0.113.8", user_id="u1", subject=None),
        Subject.of("203.0.113.7", user_id=None, subject=None),
    ]
    for other in others:
        assert (await hit(store, short, subject=other)).remaining == 2


async def test_ipv6_addresses_share_a_counter_per_64_network(
    store: RedisSlidingWindow, short: Policy
) -> None:
    first = Subject.of("2001:db8:0:1::1", user_id=None, subject=None)
    same_64 = Subject.of("2001:db8:0:1:ffff:ffff:ffff:ffff", user_id=None, subject=None)
    next_64 = Subject.of("2001:db8:0:2::1", user_id=None, subject=None)
    assert (await hit(store, short, cost=3, subject=first)).allowed
    assert not (await hit(store, short, subject=same_64)).allowed
    assert (await hit(store, short, subject=next_64)).allowed


async def test_an_unreachable_redis_fails_fast_as_unavailable(
    unused_tcp_port: int, short: Policy
) -> None:
    client = connect(f"redis://127.0.0.1:{unused_tcp_port}/0", timeout_s=0.05)
    store = RedisSlidingWindow(client)
    started = asyncio.get_running_loop().time()
    with pytest.raises(StoreUnavailable):
        await hit(store, short)
    assert asyncio.get_running_loop().time() - started < 0.2
    assert not await store.ping()
    await client.aclose()
