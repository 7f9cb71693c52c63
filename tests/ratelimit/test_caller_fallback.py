"""The callers' client against the real ratelimit service, and its fallback when the service is
killed or hangs (issue 10's reproductions, each holding the right value)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from polling import eventually
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from nocturnal.ratelimit.app import create_app
from nocturnal.shared.breaker import BreakerState
from nocturnal.shared.ratelimit.client import RateLimitClient
from nocturnal.shared.ratelimit.instances import LiveInstances
from nocturnal.shared.ratelimit.policies import (
    DEFAULT_POLICIES,
    PolicyLimits,
    limit_key,
    policy_table,
)
from nocturnal.shared.ratelimit.requests import ratelimit_headers
from ratelimit.support import SettingsFactory

CONFIGURED_API = {"api": PolicyLimits(window_s=60, normal=10_000, strict=10_000)}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def in_state(client: RateLimitClient, state: BreakerState) -> bool:
    return client.breaker.state is state


@pytest.fixture
def ip() -> str:
    """An address of this test alone (counters are keyed by address)."""
    return f"2001:db8:{uuid.uuid4().int % 0xFFFF:x}::1"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_after_the_service_is_killed_the_fallback_keeps_the_configured_policy(
    make_settings: SettingsFactory, redis: Redis, session: aiohttp.ClientSession, ip: str
) -> None:
    server = TestServer(create_app(make_settings(ratelimit_policies=CONFIGURED_API)))
    await server.start_server()
    # The caller's own configuration says nothing: only the service knows the policy.
    client = RateLimitClient(session, str(server.make_url("/")), service="t", timeout_s=1.0)
    await client.refresh()
    assert not (await client.check("api", ip, user_id="u1")).degraded
    await server.close()

    decisions = [await client.check("api", ip, user_id="u1") for _ in range(150)]
    assert all(d.degraded and d.allowed for d in decisions)
    assert {(d.limit, d.window_s) for d in decisions} == {(10_000, 60)}
    assert ratelimit_headers(decisions[-1])["RateLimit-Policy"] == '"api";q=10000;w=60'
    await redis.delete(limit_key("api", ip, "u1"))


async def test_an_unreachable_service_at_start_leaves_the_configured_table(
    session: aiohttp.ClientSession, ip: str
) -> None:
    client = RateLimitClient(
        session,
        "http://127.0.0.1:9",
        service="t",
        timeout_s=0.2,
        policies=policy_table(CONFIGURED_API),
    )
    await client.refresh()
    decision = await client.check("api", ip)
    assert (decision.degraded, decision.limit, decision.window_s) == (True, 10_000, 60)


async def test_two_caller_instances_together_allow_the_limit_not_twice_it(
    session: aiohttp.ClientSession, ip: str
) -> None:
    instances = [
        RateLimitClient(
            session,
            "http://127.0.0.1:9",
            service="t",
            timeout_s=0.2,
            instances=LiveInstances(None, configured=2),
        )
        for _ in range(2)
    ]
    limit = DEFAULT_POLICIES["api"].normal
    allowed = 0
    for _ in range(limit):
        for client in instances:
            allowed += (await client.check("api", ip, user_id="u1")).allowed
    assert allowed == limit
    decision = await instances[0].check("api", ip, user_id="u1")
    # Each instance allowed its half; the 429 names the configured quota, not the half.
    assert (decision.allowed, decision.limit, decision.remaining) == (False, limit, 0)


async def test_a_hanging_service_costs_one_timeout_then_decisions_are_local_until_a_probe_finds_it(
    session: aiohttp.ClientSession, ip: str
) -> None:
    hanging = asyncio.Event()
    hanging.set()
    calls = 0

    async def check(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if hanging.is_set():
            await asyncio.sleep(30)
        body = await request.json()
        policy = DEFAULT_POLICIES[body["policy"]]
        return web.json_response(
            {
                "allowed": True,
                "policy": policy.name,
                "tier": "normal",
                "limit": policy.normal,
                "remaining": policy.normal - 1,
                "reset_s": policy.window_s,
                "retry_after_s": 0,
                "window_s": policy.window_s,
            }
        )

    async def policies(_: web.Request) -> web.Response:
        if hanging.is_set():
            await asyncio.sleep(30)
        return web.json_response({"items": [dict(vars(p)) for p in DEFAULT_POLICIES.values()]})

    app = web.Application()
    app.router.add_post("/v1/check", check)
    app.router.add_get("/v1/policies", policies)
    clock = FakeClock()
    async with TestServer(app) as server:
        client = RateLimitClient(
            session, str(server.make_url("/")), service="t-hang", timeout_s=0.1, clock=clock
        )
        decisions = [await client.check("api", ip) for _ in range(20)]
        assert all(d.degraded for d in decisions)
        assert calls == 1  # only the first check waited for its timeout
        assert client.breaker.state is BreakerState.OPEN

        clock.now += 1.0
        assert (await client.check("api", ip)).degraded  # starts a probe, does not wait on it
        # The probe times out against the hanging service.
        await eventually(lambda: in_state(client, BreakerState.OPEN), "the probe to fail")

        hanging.clear()
        clock.now += 1.0
        assert (await client.check("api", ip)).degraded
        await eventually(lambda: in_state(client, BreakerState.CLOSED), "the probe to succeed")
        recovered = await client.check("api", ip)
        assert calls == 2
        assert not recovered.degraded
    local = REGISTRY.get_sample_value(
        "ratelimit_degraded_decisions_total", {"service": "t-hang", "policy": "api"}
    )
    assert local == 22


async def test_a_refused_check_is_decided_locally_without_opening_the_breaker(
    session: aiohttp.ClientSession, ip: str
) -> None:
    async def refuse(_: web.Request) -> web.Response:
        return web.json_response({"status": 400}, status=400)

    app = web.Application()
    app.router.add_post("/v1/check", refuse)
    async with TestServer(app) as server:
        client = RateLimitClient(session, str(server.make_url("/")), service="t", timeout_s=1.0)
        decision = await client.check("api", ip)
    assert decision.degraded
    assert client.breaker.state is BreakerState.CLOSED


async def test_checks_of_one_key_do_not_queue_behind_each_other_when_no_lease_comes(
    session: aiohttp.ClientSession, ip: str
) -> None:
    # A degraded service grants no lease: the checks waiting for one must then go side by
    # side, not one after another (which queued requests for seconds under a Redis hang).
    in_flight = most = 0

    async def degraded(request: web.Request) -> web.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        policy = DEFAULT_POLICIES["api"]
        return web.json_response(
            {
                "allowed": True,
                "policy": "api",
                "tier": "normal",
                "limit": policy.normal,
                "remaining": policy.normal - 1,
                "reset_s": policy.window_s,
                "retry_after_s": 0,
                "window_s": policy.window_s,
                "degraded": True,
            }
        )

    app = web.Application()
    app.router.add_post("/v1/check", degraded)
    async with TestServer(app) as server:
        client = RateLimitClient(session, str(server.make_url("/")), service="t", timeout_s=5.0)
        decisions = await asyncio.gather(*(client.check("api", ip) for _ in range(20)))
    assert all(d.allowed for d in decisions)
    assert most > 1
