"""Fixtures of the ratelimit tests: unique short policies on the real Redis, the app."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from nocturnal.ratelimit.app import create_app
from nocturnal.ratelimit.settings import RatelimitSettings
from nocturnal.shared.ratelimit.policies import Policy, PolicyLimits
from ratelimit.support import Client, SettingsFactory


@pytest.fixture
def short() -> Policy:
    """A policy of this test alone: 3 units (strict 2) per 2 s, so windows slide within a test."""
    return Policy(f"short-{uuid.uuid4().hex[:12]}", window_s=2, normal=3, strict=2)


@pytest.fixture
def wide() -> Policy:
    """A policy of this test alone: 10 units (strict 5) per minute."""
    return Policy(f"wide-{uuid.uuid4().hex[:12]}", window_s=60, normal=10, strict=5)


@pytest.fixture
async def redis(redis_url: str, short: Policy, wide: Policy) -> AsyncIterator[Redis]:
    """A client of the test Redis; deletes every key of this test's policies afterwards."""
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    for policy in (short, wide):
        keys = [key async for key in client.scan_iter(match=f"*:{policy.name}:*")]
        if keys:
            await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def email_hash(redis: Redis) -> AsyncIterator[str]:
    """An e-mail hash (auth policy subject) of this test alone; keys naming it are deleted after."""
    subject = uuid.uuid4().hex[:16]
    yield subject
    keys = [key async for key in redis.scan_iter(match=f"rate-limit*{subject}*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
def make_settings(
    redis_url: str, amqp_url: str, events_exchange: str, short: Policy, wide: Policy
) -> SettingsFactory:
    """Settings with this test's policies on the test servers; keyword arguments override."""

    def make(**overrides: Any) -> RatelimitSettings:
        values: dict[str, Any] = {
            "redis_url": redis_url,
            "amqp_url": amqp_url,
            "events_exchange": events_exchange,
            "instance_name": "test",
            # Client and server share one event loop here: a generous timeout keeps a busy loop
            # from passing for a slow Redis. Degraded mode is tested with dead or silent servers.
            "redis_timeout_s": 1.0,
            "ratelimit_policies": {
                p.name: PolicyLimits(window_s=p.window_s, normal=p.normal, strict=p.strict)
                for p in (short, wide)
            },
        }
        return RatelimitSettings(**{**values, **overrides})

    return make


@pytest.fixture
async def client(aiohttp_client: Any, make_settings: SettingsFactory, redis: Redis) -> Client:
    """The ratelimit app on the real Redis and RabbitMQ."""
    client: Client = await aiohttp_client(create_app(make_settings()))
    return client
