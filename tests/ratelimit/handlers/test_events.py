"""auth's login events, consumed by the running app through RabbitMQ."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
from event_samples import sample_data
from polling import eventually
from redis.asyncio import Redis

from nocturnal.ratelimit.domain import abuse
from nocturnal.ratelimit.domain.subjects import tier_key
from nocturnal.shared.events import EventPublisher, ExchangeSpec, new_event
from ratelimit.support import Client


@pytest.fixture
async def auth_publisher(amqp_url: str, events_exchange: str) -> AsyncIterator[EventPublisher]:
    """Publishes as auth would, on the test exchange."""
    connection = await aio_pika.connect(amqp_url)
    async with connection, EventPublisher(connection, ExchangeSpec(events_exchange)) as publisher:
        yield publisher


async def login_event(
    publisher: EventPublisher, name: str, email_hash: str, *, event_id: str | None = None
) -> None:
    event = new_event(name, sample_data(name, email_hash=email_hash), service="auth")
    if event_id is not None:
        event = event.model_copy(update={"id": event_id})
    await publisher.publish_confirmed(event)


async def test_failed_logins_seen_as_events_make_the_email_strict_for_auth_checks(
    client: Client, auth_publisher: EventPublisher, redis: Redis, email_hash: str
) -> None:
    for i in range(abuse.FAILURES_BEFORE_STRICT):
        await login_event(
            auth_publisher, "user.login_failed", email_hash, event_id=f"{email_hash}-{i}"
        )

    async def strict() -> bool:
        return await redis.get(tier_key("auth", email_hash)) == "strict"

    await eventually(strict, "the e-mail to turn strict")
    resp = await client.post(
        "/v1/check", json={"policy": "auth", "ip": "192.0.2.5", "subject": email_hash}
    )
    body = await resp.json()
    assert (body["tier"], body["limit"]) == ("strict", 3)


async def test_a_successful_login_event_clears_the_failure_count(
    client: Client, auth_publisher: EventPublisher, redis: Redis, email_hash: str
) -> None:
    await login_event(auth_publisher, "user.login_failed", email_hash, event_id=f"{email_hash}-1")

    async def counted() -> bool:
        return await redis.exists(abuse.failures_key(email_hash)) == 1

    async def cleared() -> bool:
        return await redis.exists(abuse.failures_key(email_hash)) == 0

    await eventually(counted, "the failed login to be counted")
    await login_event(auth_publisher, "user.login_succeeded", email_hash)
    await eventually(cleared, "the failures to be forgotten")


async def test_an_event_with_unusable_data_does_not_stop_the_consumer(
    client: Client, auth_publisher: EventPublisher, redis: Redis, email_hash: str
) -> None:
    bad = new_event("user.login_failed", {"email_hash": "not a hash!"}, service="auth")
    await auth_publisher.publish_confirmed(bad)
    await login_event(
        auth_publisher, "user.login_failed", email_hash, event_id=f"{email_hash}-{uuid.uuid4().hex}"
    )

    async def counted() -> bool:
        return await redis.get(abuse.failures_key(email_hash)) == "1"

    await eventually(counted, "the failed login to be counted")
    assert (await client.get("/health/ready")).status == 200
