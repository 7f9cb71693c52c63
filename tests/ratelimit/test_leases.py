"""Quota leases (DESIGN §1) on the real ratelimit service and Redis: never more than the limit
in any span of the window, whatever the leases and however many callers share one key."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from nocturnal.ratelimit.adapters.redis_store import RedisSlidingWindow, connect
from nocturnal.ratelimit.app import create_app
from nocturnal.ratelimit.domain.subjects import Subject
from nocturnal.shared.ratelimit.client import RateLimitClient
from nocturnal.shared.ratelimit.policies import Policy, PolicyLimits
from ratelimit.support import SettingsFactory

pytestmark = pytest.mark.integration

LEASE_MS = 1000


class Hops:
    """Counts the HTTP requests of the sessions it traces: a check answered from a lease
    sends none."""

    def __init__(self) -> None:
        self.count = 0
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._started)

    async def _started(self, *_: object) -> None:
        self.count += 1


@pytest.fixture
def many() -> Policy:
    """A policy of this test alone: 50 units per minute (the whole test in one window)."""
    return Policy(f"many-{uuid.uuid4().hex[:12]}", window_s=60, normal=50, strict=10)


@pytest.fixture
async def store(redis_url: str, redis: Redis, many: Policy) -> AsyncIterator[RedisSlidingWindow]:
    client = connect(redis_url, timeout_s=5.0)
    yield RedisSlidingWindow(client)
    keys = [key async for key in redis.scan_iter(match=f"*:{many.name}:*")]
    if keys:
        await redis.delete(*keys)
    await client.aclose()


async def test_a_lease_is_never_more_than_half_of_what_remains_and_none_near_the_limit(
    store: RedisSlidingWindow, many: Policy
) -> None:
    subject = Subject.of("203.0.113.20", user_id=secrets.token_hex(4), subject=None)
    key, tier = subject.counter_key(many.name), subject.tier_key(many.name)
    used, grants = 0, []
    while True:
        decision = await store.hit(many, key, tier, 1, lease=100, lease_ms=LEASE_MS)
        if not decision.allowed:
            break
        assert decision.lease <= (many.normal - used - 1) // 2
        if many.normal - used - 1 < many.normal / 10:
            assert decision.lease == 0  # near the limit: one request at a time
        used += 1 + decision.lease
        assert decision.remaining == many.normal - used
        grants.append(decision.lease)
    assert used == many.normal
    assert grants[0] == (many.normal - 1) // 2
    assert grants == [24, 12, 5, 2, 0, 0, 0]
    assert decision.lease == 0


async def test_leased_units_stay_counted_for_the_window_after_the_lease(
    store: RedisSlidingWindow, short: Policy
) -> None:
    # short: 3 units per 2 s. One unit checked, one leased for 1 s: counted until 3 s from now.
    subject = Subject.of("203.0.113.21", user_id=secrets.token_hex(4), subject=None)
    key, tier = subject.counter_key(short.name), subject.tier_key(short.name)
    decision = await store.hit(short, key, tier, 1, lease=5, lease_ms=LEASE_MS)
    assert (decision.lease, decision.remaining) == (1, 1)
    assert decision.reset_s == short.window_s + LEASE_MS // 1000


async def test_a_degraded_decision_grants_a_lease_from_the_instances_share(
    aiohttp_client: object, make_settings: SettingsFactory, short: Policy, unused_tcp_port: int
) -> None:
    # Redis away: the lease comes from this instance's share (3 units), on the store's rules.
    app = create_app(make_settings(redis_url=f"redis://127.0.0.1:{unused_tcp_port}/0"))
    client = await aiohttp_client(app)  # type: ignore[operator]
    body = {"policy": short.name, "ip": "203.0.113.22", "lease": 10, "lease_ms": LEASE_MS}
    answers = [await (await client.post("/v1/check", json=body)).json() for _ in range(3)]
    assert [(a["degraded"], a["allowed"], a["lease"], a["remaining"]) for a in answers] == [
        (True, True, 1, 1),  # one checked, one leased (half of the two left)
        (True, True, 0, 0),  # the last unit: checked alone
        (True, False, 0, 0),
    ]
    assert answers[0]["reset_s"] == short.window_s + LEASE_MS // 1000


async def test_with_redis_away_a_caller_spends_degraded_leases_without_the_hop(
    make_settings: SettingsFactory, many: Policy, unused_tcp_port: int
) -> None:
    limits = {many.name: PolicyLimits(window_s=60, normal=many.normal, strict=many.strict)}
    hops = Hops()
    settings = make_settings(
        redis_url=f"redis://127.0.0.1:{unused_tcp_port}/0", ratelimit_policies=limits
    )
    server = TestServer(create_app(settings))
    await server.start_server()
    try:
        async with aiohttp.ClientSession(trace_configs=[hops.trace]) as session:
            caller = RateLimitClient(
                session, str(server.make_url("/")), service="t", timeout_s=5.0, hedge_floor_s=5.0
            )
            decisions = []
            for _ in range(80):
                decisions.append(await caller.check(many.name, "203.0.113.26", user_id="u"))
                if len(decisions) == many.normal:
                    hops_within_limit = hops.count
    finally:
        await server.close()
    assert all(d.degraded for d in decisions)
    assert [d.allowed for d in decisions] == [True] * 50 + [False] * 30  # the share, no more
    assert hops_within_limit < 20  # most of the 50 allowed came from leases, without the hop


async def test_lease_requests_are_bounded(
    aiohttp_client: object, make_settings: SettingsFactory, redis: Redis, short: Policy
) -> None:
    client = await aiohttp_client(create_app(make_settings()))  # type: ignore[operator]
    for bad in ({"lease": -1}, {"lease": 1001}, {"lease_ms": 5001}, {"lease": "x"}):
        body = {"policy": short.name, "ip": "203.0.113.23", **bad}
        response = await client.post("/v1/check", json=body)
        assert response.status == 400, bad


async def test_several_callers_on_one_key_never_exceed_the_limit_and_leases_save_hops(
    make_settings: SettingsFactory, redis: Redis, many: Policy
) -> None:
    limits = {many.name: PolicyLimits(window_s=60, normal=many.normal, strict=many.strict)}
    hops = Hops()
    server = TestServer(create_app(make_settings(ratelimit_policies=limits)))
    await server.start_server()
    user = secrets.token_hex(4)
    try:
        async with aiohttp.ClientSession(trace_configs=[hops.trace]) as session:
            callers = [
                # No hedging: the limit is asserted on the service's decisions alone.
                RateLimitClient(
                    session,
                    str(server.make_url("/")),
                    service="t",
                    timeout_s=5.0,
                    hedge_floor_s=5.0,
                )
                for _ in range(4)
            ]

            async def burst(caller: RateLimitClient) -> list[bool]:
                allowed = []
                for _ in range(10):
                    wave = [caller.check(many.name, "203.0.113.24", user_id=user) for _ in range(5)]
                    allowed += [d.allowed for d in await asyncio.gather(*wave)]
                return allowed

            results = await asyncio.gather(*(burst(caller) for caller in callers))
    finally:
        await server.close()
        keys = [key async for key in redis.scan_iter(match=f"*:{many.name}:*")]
        if keys:
            await redis.delete(*keys)
    allowed = sum(sum(r) for r in results)
    checks = sum(len(r) for r in results)
    assert checks == 200
    assert allowed <= many.normal  # one window: never more than the limit in it
    assert allowed >= many.normal // 2  # leases cost at most their unspent units
    assert hops.count < checks  # the others were answered from leases, without the hop


async def test_a_lease_is_spent_locally_until_it_expires_and_unspent_units_stay_counted(
    make_settings: SettingsFactory, redis: Redis, many: Policy
) -> None:
    limits = {many.name: PolicyLimits(window_s=60, normal=many.normal, strict=many.strict)}
    hops = Hops()
    server = TestServer(create_app(make_settings(ratelimit_policies=limits)))
    await server.start_server()
    clock = SimpleNamespace(now=0.0)
    user = secrets.token_hex(4)
    try:
        async with aiohttp.ClientSession(trace_configs=[hops.trace]) as session:
            caller = RateLimitClient(
                session,
                str(server.make_url("/")),
                service="t",
                clock=lambda: clock.now,
                timeout_s=5.0,
                hedge_floor_s=5.0,  # exact counts: every check waits for the service
            )

            async def remaining() -> int:
                return (await caller.check(many.name, "203.0.113.25", user_id=user)).remaining

            # 1: no lease (a cold key); 2: a lease of 2 beside it; 3, 4: from the lease;
            # 5: a lease of 5 beside it (5 checks within the lease lifetime).
            assert [await remaining() for _ in range(5)] == [49, 48, 47, 46, 45]
            assert hops.count == 3
            clock.now += LEASE_MS / 1000  # the lease has ended with 5 units unspent
            assert await remaining() == 39  # they stay counted: 50 - 6 checks - 5 leased
            assert hops.count == 4
    finally:
        await server.close()
        keys = [key async for key in redis.scan_iter(match=f"*:{many.name}:*")]
        if keys:
            await redis.delete(*keys)
