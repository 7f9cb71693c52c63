"""Tier overrides on the real Redis and RabbitMQ (the Redis tier store and the bus announcer
under the Tiers use cases): operator changes and failed-login strictness."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.abc import AbstractQueue
from redis.asyncio import Redis

from nocturnal.ratelimit.adapters.announcer import BusAnnouncer
from nocturnal.ratelimit.adapters.tiers import RedisTierStore
from nocturnal.ratelimit.domain import abuse
from nocturnal.ratelimit.domain.subjects import tier_key
from nocturnal.ratelimit.service_layer import Tiers
from nocturnal.shared.events import CloudEvent, EventBus, ExchangeSpec, parse
from nocturnal.shared.ratelimit.policies import DEFAULT_POLICIES, Tier


@pytest.fixture
async def bus(amqp_url: str, events_exchange: str) -> AsyncIterator[EventBus]:
    exchange = ExchangeSpec(events_exchange)
    async with EventBus(
        amqp_url, service="ratelimit", instance="test", db=None, exchange=exchange
    ) as opened:
        yield opened


@pytest.fixture
async def announced(amqp_url: str, bus: EventBus) -> AsyncIterator[AbstractQueue]:
    """A queue of this test receiving every `ratelimit.tier_changed`."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        queue = await (await connection.channel()).declare_queue(exclusive=True)
        await queue.bind(bus.exchange.name, "ratelimit.tier_changed")
        yield queue


@pytest.fixture
def tiers(redis: Redis, bus: EventBus) -> Tiers:
    return Tiers(RedisTierStore(redis), BusAnnouncer(bus))


async def next_event(queue: AbstractQueue) -> CloudEvent:
    message = await queue.get(timeout=5)
    await message.ack()
    return parse(message.body)


async def fail_logins(tiers: Tiers, subject: str, times: int) -> None:
    for _ in range(times):
        # Event ids carry the subject, so the subject's fixture deletes their markers too.
        await tiers.failed_login(subject, f"{subject}-{uuid.uuid4().hex}")


async def test_an_operator_change_is_stored_with_its_ttl_and_announced(
    tiers: Tiers, redis: Redis, announced: AbstractQueue, email_hash: str
) -> None:
    change = await tiers.override(
        DEFAULT_POLICIES["auth"], email_hash, Tier.STRICT, ttl_s=90, reason="r"
    )
    assert await redis.get(change.key) == "strict"
    assert 0 < await redis.pttl(change.key) <= 90_000
    event = await next_event(announced)
    assert (event.name, event.subject, event.data) == (
        "ratelimit.tier_changed",
        email_hash,
        change.to_json(),
    )


async def test_repeated_failed_logins_make_the_email_strict_and_announce_it_once(
    tiers: Tiers, redis: Redis, announced: AbstractQueue, email_hash: str
) -> None:
    key = tier_key("auth", email_hash)
    await fail_logins(tiers, email_hash, abuse.FAILURES_BEFORE_STRICT - 1)
    assert await redis.get(key) is None
    await fail_logins(tiers, email_hash, 2)
    assert await redis.get(key) == "strict"
    assert 0 < await redis.ttl(key) <= abuse.STRICT_FOR_S
    assert 0 < await redis.ttl(abuse.failures_key(email_hash)) <= abuse.FAILURE_WINDOW_S
    event = await next_event(announced)
    assert event.data["subject"] == email_hash
    assert (event.data["tier"], event.data["reason"]) == ("strict", "failed_logins")
    assert await announced.get(fail=False) is None


async def test_a_redelivered_failed_login_counts_once(
    tiers: Tiers, redis: Redis, email_hash: str
) -> None:
    for _ in range(abuse.FAILURES_BEFORE_STRICT + 2):
        await tiers.failed_login(email_hash, f"{email_hash}-1")
    assert await redis.get(abuse.failures_key(email_hash)) == "1"
    assert await redis.get(tier_key("auth", email_hash)) is None


async def test_a_successful_login_forgets_earlier_failures(
    tiers: Tiers, redis: Redis, email_hash: str
) -> None:
    await fail_logins(tiers, email_hash, abuse.FAILURES_BEFORE_STRICT - 1)
    await tiers.login(email_hash)
    await fail_logins(tiers, email_hash, abuse.FAILURES_BEFORE_STRICT - 1)
    assert await redis.get(tier_key("auth", email_hash)) is None


async def test_an_operator_pinned_normal_tier_outranks_failed_logins(
    tiers: Tiers, redis: Redis, email_hash: str
) -> None:
    await redis.set(tier_key("auth", email_hash), "normal", ex=60)
    await fail_logins(tiers, email_hash, abuse.FAILURES_BEFORE_STRICT + 1)
    assert await redis.get(tier_key("auth", email_hash)) == "normal"
