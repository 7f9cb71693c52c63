"""EventBus: a service's whole event wiring, from one service's outbox to another's handler."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest
from event_samples import sample_data
from events_scratch import Scratch
from polling import WAIT_S, eventually
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.shared.events import CloudEvent, EventBus, parse, service_queue
from nocturnal.shared.events import bus as bus_module
from nocturnal.shared.events import consumer as consumer_module
from nocturnal.shared.events.catalogue import catalogue_queue_names
from nocturnal.shared.events.topology import QueueSpec, dead_letter_queue, declare


@pytest.fixture
async def api_db(mongo_client: AsyncMongoClient[Any]) -> AsyncIterator[AsyncDatabase[Any]]:
    """A second service database (each service has its own)."""
    name = f"test_events_api_{uuid.uuid4().hex[:12]}"
    yield mongo_client[name]
    await mongo_client.drop_database(name)


def bus(amqp_url: str, scratch: Scratch, service: str, db: AsyncDatabase[Any] | None) -> EventBus:
    scratch.track(service_queue(scratch.exchange, service, ["placeholder.event"]))
    return EventBus(
        amqp_url, service=service, instance="test-host", db=db, exchange=scratch.exchange
    )


async def test_an_event_travels_from_an_outbox_to_another_services_handler(
    amqp_url: str, scratch: Scratch, db: AsyncDatabase[Any], api_db: AsyncDatabase[Any]
) -> None:
    profile_created = asyncio.Event()
    revoked: asyncio.Future[CloudEvent] = asyncio.get_running_loop().create_future()

    async def create_profile(event: CloudEvent, session: AsyncClientSession) -> None:
        await api_db["profiles"].insert_one({"_id": event.data["user_id"]}, session=session)
        profile_created.set()

    async def forget_tokens(event: CloudEvent) -> None:
        revoked.set_result(event)

    auth = bus(amqp_url, scratch, "auth", db)
    api = bus(amqp_url, scratch, "profiles", api_db)
    api.subscribe({"user.registered": create_profile})
    api.subscribe_fan_out({"auth.tokens_revoked": forget_tokens})
    async with api, auth:
        assert api.attached and auth.attached
        registered = auth.event("user.registered", sample_data("user.registered"), subject="u1")
        async with db.client.start_session() as session, await session.start_transaction():
            await db["users"].insert_one({"_id": "u1"}, session=session)
            await auth.outbox.add(registered, session=session)
            revocation = auth.event("auth.tokens_revoked", sample_data("auth.tokens_revoked"))
            await auth.outbox.add(revocation, session=session)
        auth.notify()

        await asyncio.wait_for(profile_created.wait(), WAIT_S)
        assert (await asyncio.wait_for(revoked, WAIT_S)) == revocation

    assert not api.attached
    assert await api_db["profiles"].find_one({"_id": "u1"}) is not None
    assert await api_db["inbox"].find_one({"_id": registered.id}) is not None
    assert await db["outbox"].count_documents({"sent_at": None}) == 0


async def test_leaving_the_bus_publishes_what_is_still_pending(
    amqp_url: str, scratch: Scratch, db: AsyncDatabase[Any]
) -> None:
    queue = scratch.service_queue("profiles", ["duty.posted"])
    await scratch.declare(queue)
    async with bus(amqp_url, scratch, "profiles", db) as api:
        event = api.event("duty.posted", {"duty_id": "d1"})
        async with db.client.start_session() as session, await session.start_transaction():
            await api.outbox.add(event, session=session)

    message = await scratch.get_or_none(queue.name, within=1)
    assert message is not None
    assert parse(message.body) == event


async def test_a_bus_without_database_publishes_and_consumes_directly(
    amqp_url: str, scratch: Scratch
) -> None:
    seen: asyncio.Future[CloudEvent] = asyncio.get_running_loop().create_future()

    async def tighten(event: CloudEvent) -> None:
        seen.set_result(event)

    ratelimit = bus(amqp_url, scratch, "limiter", None)
    with pytest.raises(ValueError, match="database"):
        ratelimit.subscribe({})
    ratelimit.subscribe_direct({"user.login_failed": tighten})
    async with ratelimit:
        with pytest.raises(RuntimeError, match="outbox"):
            _ = ratelimit.outbox
        event = ratelimit.event("user.login_failed", sample_data("user.login_failed"))
        await ratelimit.publisher.publish_confirmed(event)

        assert await asyncio.wait_for(seen, WAIT_S) == event


async def test_subscriptions_are_fixed_once_the_bus_is_open(
    amqp_url: str, scratch: Scratch, db: AsyncDatabase[Any]
) -> None:
    api = bus(amqp_url, scratch, "profiles", db)
    async with api:
        with pytest.raises(RuntimeError, match="before opening"):
            api.subscribe_fan_out({"auth.tokens_revoked": _ignore})


async def test_a_service_has_one_durable_queue(amqp_url: str, scratch: Scratch) -> None:
    api = bus(amqp_url, scratch, "profiles", None)
    api.subscribe_direct({"user.deleted": _ignore})

    with pytest.raises(ValueError, match="already"):
        api.subscribe_direct({"file.deleted": _ignore})


async def _ignore(event: CloudEvent) -> None:
    return None


def test_a_catalogued_service_must_handle_exactly_its_catalogue_entry() -> None:
    api = EventBus("amqp://unused/", service="api", instance="i", db=None)
    with pytest.raises(ValueError, match="catalogue"):
        api.subscribe_direct({"user.registered": _ignore})


async def test_events_route_to_a_catalogued_queue_before_its_consumer_ever_starts(
    amqp_url: str, scratch: Scratch, db: Any
) -> None:
    async with bus(amqp_url, scratch, "auth", db) as auth:
        await auth.publisher.publish_confirmed(auth.event("user.registered", {"user_id": "u1"}))
    waiting = await scratch.drain(f"{scratch.exchange.name}.api")
    assert [m.message_id for m in waiting] != []


async def test_every_queue_is_declared_once_its_own_by_its_consumer(
    amqp_url: str, scratch: Scratch, monkeypatch: pytest.MonkeyPatch
) -> None:
    declared: list[tuple[str, str]] = []

    def recording(where: str) -> Any:
        async def recorded(channel: Any, exchange: Any, *queues: QueueSpec) -> Any:
            declared.extend((where, queue.name) for queue in queues)
            return await declare(channel, exchange, *queues)

        return recorded

    monkeypatch.setattr(bus_module, "declare", recording("bus"))
    monkeypatch.setattr(consumer_module, "declare", recording("consumer"))
    ratelimit = EventBus(
        amqp_url, service="ratelimit", instance="test-host", db=None, exchange=scratch.exchange
    )
    ratelimit.subscribe_direct({"user.login_failed": _ignore, "user.login_succeeded": _ignore})
    async with ratelimit:
        pass

    names = [name for _, name in declared]
    assert len(names) == len(set(names))
    assert ("consumer", f"{scratch.exchange.name}.ratelimit") in declared
    catalogued = set(catalogue_queue_names(scratch.exchange))
    assert {name for where, name in declared if where == "bus"} <= catalogued


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_the_bus_samples_its_consumers_outbox_backlog_and_dead_letter_depth(
    amqp_url: str, scratch: Scratch, db: AsyncDatabase[Any]
) -> None:
    async def ignore(event: CloudEvent, session: AsyncClientSession) -> None:
        """Nothing to do."""

    service = f"sampled{uuid.uuid4().hex[:8]}"
    sampled = bus(amqp_url, scratch, service, db)
    sampled.subscribe({"user.registered": ignore})
    dead_letters = dead_letter_queue(scratch.exchange, service)
    now = datetime.now(UTC)
    # An entry another relay holds (leased for an hour), added ten minutes ago: it stays pending.
    await db["outbox"].insert_one(
        {
            "event_id": uuid.uuid4().hex,
            "routing_key": "user.registered",
            "event": {},
            "created_at": now - timedelta(minutes=10),
            "lease_until": now + timedelta(hours=1),
            "lease_owner": "another relay",
            "attempts": 1,
            "sent_at": None,
            "last_error": None,
        }
    )
    async with sampled:
        async with scratch.connection.channel() as channel:
            message = aio_pika.Message(b"{}")
            await channel.default_exchange.publish(message, routing_key=dead_letters.name)

        async def dead_letter_counted() -> bool:
            await sampled.sample_metrics()
            depth = sample("events_dead_letter_messages", service=service, queue=dead_letters.name)
            return depth == 1

        await eventually(dead_letter_counted, "the dead-letter queue's depth sampled")
        queue = sampled.consumers[0].queue.name
        assert sample("events_consumer_attached", service=service, queue=queue) == 1
        assert sample("outbox_pending_entries", service=service) == 1
        age = sample("outbox_oldest_pending_age_seconds", service=service)
        assert age is not None and age >= 600
