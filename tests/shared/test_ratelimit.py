"""Caller-side rate limiting: keys, the in-memory sliding window, the client's fallback, headers."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from nocturnal.shared.ratelimit.client import RateLimitClient
from nocturnal.shared.ratelimit.policies import (
    DEFAULT_POLICIES,
    Decision,
    Tier,
    ip_group,
    limit_key,
)
from nocturnal.shared.ratelimit.requests import ratelimit_headers
from nocturnal.shared.ratelimit.sliding_window import SlidingWindowLog


def test_ipv6_addresses_are_grouped_by_their_64_network() -> None:
    assert ip_group("2001:db8:1:2:aaaa::1") == ip_group("2001:db8:1:2:ffff::9")
    assert ip_group("2001:db8:1:2::1") != ip_group("2001:db8:1:3::1")
    assert ip_group("2001:db8:1:2::1") == "2001:db8:1:2::/64"


def test_ipv4_and_mapped_ipv4_count_as_the_same_address() -> None:
    assert ip_group("203.0.113.9") == "203.0.113.9"
    assert ip_group("::ffff:203.0.113.9") == "203.0.113.9"


def test_limit_key_follows_the_design_format() -> None:
    assert limit_key("auth", "203.0.113.9", "u1") == "rate-limit:auth:203.0.113.9-u1"
    assert limit_key("api", "203.0.113.9", None) == "rate-limit:api:203.0.113.9-anon"


def test_sliding_window_never_allows_more_than_the_limit_in_any_window() -> None:
    store = SlidingWindowLog()
    allowed = [
        store.hit("k", limit=3, window_s=10, now=t)[0] for t in (0.0, 1.0, 2.0, 3.0, 9.9, 10.5)
    ]
    # 3 in [0, 2]; 3.0 and 9.9 denied (window still full); at 10.5 the hit of t=0 has left.
    assert allowed == [True, True, True, False, False, True]


def test_denied_requests_consume_nothing() -> None:
    store = SlidingWindowLog()
    for t in range(3):
        store.hit("k", limit=3, window_s=10, now=float(t))
    for t in range(50):
        assert not store.hit("k", limit=3, window_s=10, now=3 + t * 0.1)[0]
    allowed, remaining, _, retry = store.hit("k", limit=3, window_s=10, now=10.01)
    assert (allowed, remaining, retry) == (True, 0, 0)


def test_retry_after_is_when_enough_units_leave_the_window() -> None:
    store = SlidingWindowLog()
    store.hit("k", limit=2, window_s=10, now=0.0)
    store.hit("k", limit=2, window_s=10, now=4.0)
    allowed, remaining, reset, retry = store.hit("k", limit=2, window_s=10, now=5.0)
    assert (allowed, remaining, reset, retry) == (False, 0, 9, 5)
    assert not store.hit("k", limit=2, window_s=10, cost=2, now=5.0)[0]
    assert store.hit("k", limit=2, window_s=10, cost=2, now=5.0)[3] == 9


def test_the_running_sum_matches_a_recount_of_the_window() -> None:
    # The log keeps each subject's sum as entries arrive and leave; a recount of what is in
    # the window (the definition) must give the same decision and remaining every time.
    rng = random.Random(7)
    store, kept, now = SlidingWindowLog(), [], 0.0
    for _ in range(5_000):
        now += rng.choice((0.0, 0.01, 0.3, 2.5))
        cost = rng.choice((1, 1, 1, 2, 5))
        kept = [(t, units) for t, units in kept if t > now - 10]
        fits = sum(units for _, units in kept) + cost <= 40
        if fits:
            kept.append((now, cost))
        allowed, remaining, _, retry = store.hit("k", limit=40, window_s=10, cost=cost, now=now)
        assert (allowed, remaining) == (fits, 40 - sum(units for _, units in kept))
        assert (retry == 0) == fits


def test_local_leases_follow_the_shared_stores_rules() -> None:
    # As sliding_window.lua: at most half of what remains, none in the last tenth of the limit.
    store, grants, used = SlidingWindowLog(), [], 0
    while store.hit("k", limit=50, window_s=60, now=0.0)[0]:
        granted = store.lease("k", units=100, limit=50, window_s=60, lease_s=1.0, now=0.0)
        used += 1 + granted
        grants.append(granted)
    assert grants == [24, 12, 5, 2, 0, 0, 0]
    assert used == 50


def test_leased_units_stay_counted_for_the_window_after_the_lease() -> None:
    store = SlidingWindowLog()
    assert store.hit("k", limit=3, window_s=10, now=0.0)[0]
    assert store.lease("k", units=5, limit=3, window_s=10, lease_s=1.0, now=0.0) == 1
    # At 10.5 the check of t=0 has left; the leased unit (spendable until 1.0) has not.
    allowed, remaining, reset, retry = store.hit("k", limit=3, window_s=10, cost=3, now=10.5)
    assert (allowed, remaining, reset, retry) == (False, 2, 1, 1)
    assert store.hit("k", limit=3, window_s=10, cost=3, now=11.0)[0]


def test_checks_and_spent_leases_never_exceed_the_limit_in_any_window() -> None:
    # Each leased unit is spent at some moment of its lease; together with the checks, no span
    # of the window may hold more than the limit (DESIGN §1), however checks and leases mix.
    rng = random.Random(11)
    limit, window, lease_s = 40, 10, 1.0
    store, spent, now = SlidingWindowLog(), [], 0.0
    for _ in range(3_000):
        now += rng.choice((0.0, 0.05, 0.4, 1.5))
        if not store.hit("k", limit=limit, window_s=window, now=now)[0]:
            continue
        spent.append(now)
        units = rng.choice((0, 0, 3, 20))
        granted = store.lease(
            "k", units=units, limit=limit, window_s=window, lease_s=lease_s, now=now
        )
        assert 0 <= granted <= units
        spent += [now + rng.uniform(0, lease_s) for _ in range(granted)]
    spent.sort()
    start = 0
    for end, moment in enumerate(spent):
        while spent[start] <= moment - window:
            start += 1
        assert end - start + 1 <= limit


def test_the_store_keeps_a_bounded_number_of_subjects() -> None:
    store = SlidingWindowLog(max_keys=10)
    for i in range(100):
        store.hit(f"k{i}", limit=1, window_s=60, now=0.0)
    assert store.hit("k0", limit=1, window_s=60, now=1.0)[0]  # evicted, so counted afresh
    assert not store.hit("k99", limit=1, window_s=60, now=1.0)[0]


def test_headers_follow_the_ietf_ratelimit_fields() -> None:
    decision = Decision(
        allowed=True,
        policy="auth",
        tier=Tier.NORMAL,
        limit=5,
        remaining=4,
        reset_s=900,
        retry_after_s=0,
        window_s=900,
    )
    assert ratelimit_headers(decision) == {
        "RateLimit-Policy": '"auth";q=5;w=900',
        "RateLimit": '"auth";r=4;t=900',
    }


def test_a_denials_reset_is_when_the_request_would_fit_again() -> None:
    denied = Decision(
        allowed=False,
        policy="auth",
        tier=Tier.NORMAL,
        limit=5,
        remaining=0,
        reset_s=900,
        retry_after_s=897,
        window_s=900,
    )
    assert ratelimit_headers(denied)["RateLimit"] == '"auth";r=0;t=897'


async def test_client_falls_back_locally_when_the_service_is_unreachable() -> None:
    async with aiohttp.ClientSession() as session:
        client = RateLimitClient(session, "http://127.0.0.1:9", service="t", timeout_s=0.2)
        decisions = [await client.check("auth", "198.51.100.1", subject="s") for _ in range(6)]
    assert all(d.degraded for d in decisions)
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert decisions[-1].retry_after_s > 0


async def test_client_falls_back_when_the_service_hangs() -> None:
    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/v1/check", slow)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        client = RateLimitClient(session, str(server.make_url("/")), service="t", timeout_s=0.1)
        decision = await client.check("api", "198.51.100.1")
    assert decision.degraded and decision.allowed
    assert decision.limit == DEFAULT_POLICIES["api"].normal


async def test_client_returns_the_services_decision() -> None:
    seen: list[dict[str, Any]] = []

    async def check(request: web.Request) -> web.Response:
        seen.append(await request.json())
        return web.json_response(
            {
                "allowed": False,
                "policy": "upload",
                "tier": "strict",
                "limit": 5,
                "remaining": 0,
                "reset_s": 100,
                "retry_after_s": 40,
                "window_s": 3600,
                "degraded": False,
            }
        )

    app = web.Application()
    app.router.add_post("/v1/check", check)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        client = RateLimitClient(session, str(server.make_url("/")), service="t")
        decision = await client.check("upload", "198.51.100.1", user_id="u1")
    assert seen == [{"policy": "upload", "ip": "198.51.100.1", "cost": 1, "user_id": "u1"}]
    assert (decision.allowed, decision.tier, decision.retry_after_s) == (False, Tier.STRICT, 40)
