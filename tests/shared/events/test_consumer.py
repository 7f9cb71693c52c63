"""Consumer with inbox against real RabbitMQ and MongoDB: once-only effects, retries, DLQ."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from event_samples import sample_data, sample_event
from events_scratch import Scratch
from opentelemetry import trace
from polling import WAIT_S, eventually
from prometheus_client import REGISTRY
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from severable_proxy import SeverableProxy
from tracing_spans import TRACER

from nocturnal.shared.events.consumer import (
    AckPolicy,
    DirectProcessor,
    EventConsumer,
    Handler,
    InboxProcessor,
)
from nocturnal.shared.events.dead_letter import (
    DEATH_DELIVERIES_HEADER,
    DEATH_DETAIL_HEADER,
    DEATH_QUEUE_HEADER,
    DEATH_REASON_HEADER,
    DEATH_TIME_HEADER,
)
from nocturnal.shared.events.envelope import CloudEvent, new_event
from nocturnal.shared.events.publisher import EventPublisher
from nocturnal.shared.events.topology import QueueSpec, TopologyError

FAST_RETRY = AckPolicy(retry_base=0.01, retry_max=0.05)


def registered(user_id: str) -> CloudEvent:
    return sample_event("user.registered", user_id=user_id, subject=user_id)


async def publish(scratch: Scratch, *events: CloudEvent) -> None:
    async with EventPublisher(scratch.connection, scratch.exchange) as publisher:
        for event in events:
            await publisher.publish_confirmed(event)


def profile_writer(db: AsyncDatabase[Any]) -> Handler:
    """A handler that counts, through the session, how often each user's effect was stored."""

    async def create_profile(event: CloudEvent, session: AsyncClientSession) -> None:
        await db["profiles"].update_one(
            {"_id": event.data["user_id"]}, {"$inc": {"applied": 1}}, upsert=True, session=session
        )

    return create_profile


async def applied(db: AsyncDatabase[Any], user_id: str) -> int:
    profile = await db["profiles"].find_one({"_id": user_id})
    return 0 if profile is None else int(profile["applied"])


class Settling:
    """Wraps a processor and counts the deliveries it finished (applied or skipped)."""

    def __init__(self, processor: InboxProcessor) -> None:
        self._processor = processor
        self.outcomes = 0

    @property
    def event_names(self) -> frozenset[str]:
        return self._processor.event_names

    async def process(self, event: CloudEvent) -> bool:
        applied = await self._processor.process(event)
        self.outcomes += 1
        return applied


@pytest.fixture
async def consumers() -> AsyncIterator[list[EventConsumer]]:
    """Consumers a test starts; closed afterwards even when the test fails."""
    started: list[EventConsumer] = []
    yield started
    for consumer in started:
        await consumer.close(grace_period=5)


async def start(consumers: list[EventConsumer], consumer: EventConsumer) -> EventConsumer:
    consumers.append(consumer)
    await consumer.start()
    return consumer


async def ready_count(scratch: Scratch, queue: str) -> int:
    async with scratch.connection.channel() as channel:
        declared = await channel.declare_queue(queue, passive=True)
        count = declared.declaration_result.message_count
        return 0 if count is None else count


async def test_event_is_applied_in_a_transaction_and_acked(
    db: AsyncDatabase[Any], scratch: Scratch, consumers: list[EventConsumer]
) -> None:
    queue = scratch.service_queue("api", ["user.registered"])
    committed = asyncio.Event()
    processor = InboxProcessor(db, {"user.registered": profile_writer(db)}, on_commit=committed.set)
    consumer = await start(
        consumers, EventConsumer(scratch.connection, scratch.exchange, queue, processor)
    )
    event = registered("u1")

    await publish(scratch, event)
    await asyncio.wait_for(committed.wait(), WAIT_S)
    await consumer.close()

    assert await applied(db, "u1") == 1
    assert await db["inbox"].find_one({"_id": event.id}) is not None
    assert await scratch.get_or_none(queue.name) is None


async def test_an_event_delivered_twice_is_applied_once(
    db: AsyncDatabase[Any], scratch: Scratch, consumers: list[EventConsumer]
) -> None:
    queue = scratch.service_queue("api", ["user.registered"])
    write = profile_writer(db)
    sentinel_seen, sentinel_committed = False, asyncio.Event()

    async def handler(event: CloudEvent, session: AsyncClientSession) -> None:
        nonlocal sentinel_seen
        await write(event, session)
        sentinel_seen = event.data["user_id"] == "sentinel"

    def committed() -> None:
        if sentinel_seen:
            sentinel_committed.set()

    processor = InboxProcessor(db, {"user.registered": handler}, on_commit=committed)
    await start(
        consumers,
        EventConsumer(scratch.connection, scratch.exchange, queue, processor, prefetch=1),
    )
    event = registered("u1")

    # The same event twice (a relay republishing after a lost confirm), then a marker that,
    # with prefetch 1 on a FIFO queue, is handled only after both copies were settled.
    await publish(scratch, event, event, registered("sentinel"))
    await asyncio.wait_for(sentinel_committed.wait(), WAIT_S)

    assert await applied(db, "u1") == 1
    assert await db["inbox"].count_documents({}) == 2


async def test_concurrent_copies_of_an_event_are_applied_once(
    db: AsyncDatabase[Any],
    scratch: Scratch,
    consumers: list[EventConsumer],
) -> None:
    queue = scratch.service_queue("api", ["user.registered"])
    processor = Settling(InboxProcessor(db, {"user.registered": profile_writer(db)}))
    consumer = EventConsumer(
        scratch.connection, scratch.exchange, queue, processor, prefetch=10, policy=FAST_RETRY
    )
    await start(consumers, consumer)
    event = registered("u1")

    await publish(scratch, *[event] * 5)

    async def all_settled() -> bool:
        # Each copy is settled once it was applied or skipped (a write conflict is retried).
        return processor.outcomes == 5 and await ready_count(scratch, queue.name) == 0

    await eventually(all_settled, "every copy settled")
    assert await applied(db, "u1") == 1


async def test_a_failing_handler_is_retried_then_dead_lettered(
    db: AsyncDatabase[Any], scratch: Scratch, consumers: list[EventConsumer]
) -> None:
    queue = scratch.service_queue("api", ["user.registered"], delivery_limit=2)
    calls = 0

    async def broken(event: CloudEvent, session: AsyncClientSession) -> None:
        nonlocal calls
        calls += 1
        await db["profiles"].insert_one({"attempt": calls}, session=session)
        raise RuntimeError("downstream bug")

    processor = InboxProcessor(db, {"user.registered": broken})
    await start(
        consumers,
        EventConsumer(scratch.connection, scratch.exchange, queue, processor, policy=FAST_RETRY),
    )
    event = registered("u1")

    await publish(scratch, event)
    assert queue.dead_letter is not None
    dead = await scratch.get(queue.dead_letter.name)

    assert dead.message_id == event.id
    assert dead.body == event.to_json()
    assert dead.headers[DEATH_REASON_HEADER] == "handler-failed"
    assert "RuntimeError('downstream bug')" in dead.headers[DEATH_DETAIL_HEADER]
    assert dead.headers[DEATH_DELIVERIES_HEADER] == 3
    assert calls == 3  # the first delivery and two redeliveries
    assert await db["profiles"].count_documents({}) == 0  # every attempt was rolled back
    assert await db["inbox"].count_documents({}) == 0


async def test_a_handler_that_fails_once_is_retried_and_applied_once(
    db: AsyncDatabase[Any], scratch: Scratch, consumers: list[EventConsumer]
) -> None:
    queue = scratch.service_queue("api", ["user.registered"])
    committed = asyncio.Event()
    write = profile_writer(db)
    calls = 0

    async def flaky(event: CloudEvent, session: AsyncClientSession) -> None:
        nonlocal calls
        calls += 1
        await write(event, session)
        if calls == 1:
            raise ConnectionError("peer hiccup")

    processor = InboxProcessor(db, {"user.registered": flaky}, on_commit=committed.set)
    await start(
        consumers,
        EventConsumer(scratch.connection, scratch.exchange, queue, processor, policy=FAST_RETRY),
    )

    await publish(scratch, registered("u1"))
    await asyncio.wait_for(committed.wait(), WAIT_S)

    assert calls == 2
    assert await applied(db, "u1") == 1
    assert queue.dead_letter is not None
    assert await scratch.get_or_none(queue.dead_letter.name, within=0.2) is None


async def start_recording(
    db: AsyncDatabase[Any], scratch: Scratch, consumers: list[EventConsumer]
) -> tuple[QueueSpec, list[str], asyncio.Event]:
    """A consumer of `user.registered` recording the user ids it applied; the event is set once
    the user `good` was applied."""
    queue = scratch.service_queue("api", ["user.registered"])
    applied_ids: list[str] = []
    good_applied = asyncio.Event()

    async def handler(event: CloudEvent, session: AsyncClientSession) -> None:
        applied_ids.append(event.data["user_id"])

    def committed() -> None:
        if "good" in applied_ids:
            good_applied.set()

    processor = InboxProcessor(db, {"user.registered": handler}, on_commit=committed)
    await start(consumers, EventConsumer(scratch.connection, scratch.exchange, queue, processor))
    return queue, applied_ids, good_applied


def assert_dead_lettered_by_the_consumer(
    dead: AbstractIncomingMessage, queue: QueueSpec, reason: str
) -> None:
    assert dead.headers[DEATH_REASON_HEADER] == reason
    assert dead.headers[DEATH_QUEUE_HEADER] == queue.name
    assert dead.headers[DEATH_DELIVERIES_HEADER] == 1
    assert str(dead.headers[DEATH_TIME_HEADER]).endswith("Z")
    assert "x-death" not in dead.headers  # moved by the consumer, not rejected to the broker


async def test_a_malformed_envelope_is_dead_lettered_with_its_reason_and_the_next_event_applied(
    db: AsyncDatabase[Any], scratch: Scratch, consumers: list[EventConsumer]
) -> None:
    queue, applied_ids, good_applied = await start_recording(db, scratch, consumers)

    await scratch.publish_raw(b'{"specversion": "1.0", "id": "x"', routing_key="user.registered")
    await publish(scratch, registered("good"))
    await asyncio.wait_for(good_applied.wait(), WAIT_S)
    assert queue.dead_letter is not None
    dead = await scratch.get(queue.dead_letter.name)

    assert dead.body == b'{"specversion": "1.0", "id": "x"'
    assert_dead_lettered_by_the_consumer(dead, queue, "invalid-envelope")
    assert "invalid CloudEvent" in dead.headers[DEATH_DETAIL_HEADER]
    assert applied_ids == ["good"]
    assert await scratch.get_or_none(queue.name) is None


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({**sample_data("user.registered"), "role": "surgeon"}, "data.role"),
        ({**sample_data("user.registered"), "user_id": 42}, "data.user_id"),
        ({"user_id": "u1"}, "data.email: Field required"),
    ],
    ids=["unknown role", "number for a string", "missing fields"],
)
async def test_a_schema_invalid_payload_is_dead_lettered_at_once_with_its_reason(
    db: AsyncDatabase[Any],
    scratch: Scratch,
    consumers: list[EventConsumer],
    data: dict[str, Any],
    error: str,
) -> None:
    queue, applied_ids, good_applied = await start_recording(db, scratch, consumers)
    invalid = new_event("user.registered", data, service="auth")
    counted = {"queue": queue.name, "reason": "invalid-payload"}

    await publish(scratch, invalid, registered("good"))
    await asyncio.wait_for(good_applied.wait(), WAIT_S)
    assert queue.dead_letter is not None
    dead = await scratch.get(queue.dead_letter.name)
    assert REGISTRY.get_sample_value("events_dead_lettered_total", counted) == 1

    assert dead.message_id == invalid.id
    assert dead.body == invalid.to_json()
    assert_dead_lettered_by_the_consumer(dead, queue, "invalid-payload")
    assert error in dead.headers[DEATH_DETAIL_HEADER]
    assert applied_ids == ["good"]
    assert await db["inbox"].find_one({"_id": invalid.id}) is None


async def test_a_consumer_whose_dead_letter_exchange_is_gone_rejects_and_goes_on(
    db: AsyncDatabase[Any], scratch: Scratch, consumers: list[EventConsumer]
) -> None:
    queue, applied_ids, good_applied = await start_recording(db, scratch, consumers)
    async with scratch.connection.channel() as channel:
        await channel.exchange_delete(scratch.exchange.dead_letter_exchange)

    await scratch.publish_raw(b"not json", routing_key="user.registered")
    await publish(scratch, registered("good"))
    await asyncio.wait_for(good_applied.wait(), WAIT_S)

    # The copy with the reason could not be published: the message was rejected instead (the
    # quorum queue keeps it until its dead-letter exchange is back), not redelivered.
    assert applied_ids == ["good"]
    assert await ready_count(scratch, queue.name) == 0


async def test_attached_reflects_the_consumer_state(
    db: AsyncDatabase[Any], scratch: Scratch
) -> None:
    queue = scratch.service_queue("api", ["user.registered"])
    processor = InboxProcessor(db, {"user.registered": profile_writer(db)})
    consumer = EventConsumer(scratch.connection, scratch.exchange, queue, processor)

    assert not consumer.attached
    await consumer.start()
    assert consumer.attached
    await consumer.close()
    assert not consumer.attached


async def test_consumer_reattaches_after_the_connection_is_lost(
    db: AsyncDatabase[Any],
    scratch: Scratch,
    amqp_url: str,
    proxy: SeverableProxy,
) -> None:
    connection = await aio_pika.connect_robust(proxy.url(amqp_url, reconnect_interval="0.2"))
    queue = scratch.service_queue("api", ["user.registered"])
    committed, reattached = asyncio.Event(), asyncio.Event()

    async def reload_state() -> None:
        reattached.set()

    processor = InboxProcessor(db, {"user.registered": profile_writer(db)}, on_commit=committed.set)
    consumer = EventConsumer(
        connection, scratch.exchange, queue, processor, on_reattach=reload_state
    )
    try:
        await consumer.start()
        assert consumer.attached
        proxy.refusing = True
        proxy.sever()

        async def detached() -> bool:
            return not consumer.attached

        async def attached() -> bool:
            return bool(consumer.attached)

        await eventually(detached, "the consumer to notice the lost connection")
        await asyncio.sleep(0.5)  # a few failed reconnection attempts
        assert not consumer.attached
        proxy.refusing = False
        await eventually(attached, "the consumer to re-attach")
        await asyncio.wait_for(reattached.wait(), WAIT_S)
        await publish(scratch, registered("u1"))
        await asyncio.wait_for(committed.wait(), WAIT_S)
        assert await applied(db, "u1") == 1
    finally:
        await consumer.close(grace_period=5)
        await connection.close()


async def test_a_handler_that_takes_too_long_counts_as_a_failed_delivery(
    db: AsyncDatabase[Any], scratch: Scratch, consumers: list[EventConsumer]
) -> None:
    queue = scratch.service_queue("api", ["user.registered"])
    committed = asyncio.Event()
    write = profile_writer(db)
    calls = 0

    async def hangs_once(event: CloudEvent, session: AsyncClientSession) -> None:
        nonlocal calls
        calls += 1
        await write(event, session)
        if calls == 1:
            await asyncio.Event().wait()  # a peer that never answers

    processor = InboxProcessor(db, {"user.registered": hangs_once}, on_commit=committed.set)
    consumer = EventConsumer(
        scratch.connection,
        scratch.exchange,
        queue,
        processor,
        policy=FAST_RETRY,
        handler_timeout=0.2,
    )
    await start(consumers, consumer)

    await publish(scratch, registered("u1"))
    await asyncio.wait_for(committed.wait(), WAIT_S)

    assert calls == 2
    assert await applied(db, "u1") == 1


async def test_the_event_request_id_is_bound_and_its_trace_continued_while_handling(
    db: AsyncDatabase[Any], scratch: Scratch, consumers: list[EventConsumer]
) -> None:
    queue = scratch.service_queue("api", ["user.registered"])
    seen: asyncio.Future[tuple[dict[str, Any], Any]] = asyncio.get_running_loop().create_future()

    async def handler(event: CloudEvent, session: AsyncClientSession) -> None:
        span = trace.get_current_span().get_span_context()
        seen.set_result((structlog.contextvars.get_contextvars(), span))

    processor = InboxProcessor(db, {"user.registered": handler})
    await start(consumers, EventConsumer(scratch.connection, scratch.exchange, queue, processor))
    with (
        structlog.contextvars.bound_contextvars(request_id="req-7"),
        TRACER.start_as_current_span("request") as request,
    ):
        event = registered("u1")

    await publish(scratch, event)
    context, span = await asyncio.wait_for(seen, WAIT_S)

    assert context["request_id"] == "req-7"
    assert context["event_id"] == event.id
    assert context["event_name"] == "user.registered"
    assert span.trace_id == request.get_span_context().trace_id
    assert span.span_id != request.get_span_context().span_id


async def test_every_instance_sees_a_fan_out_event(
    scratch: Scratch, consumers: list[EventConsumer]
) -> None:
    received: dict[str, asyncio.Future[CloudEvent]] = {}
    for instance in ("a", "b"):
        future: asyncio.Future[CloudEvent] = asyncio.get_running_loop().create_future()
        received[instance] = future

        async def remember(event: CloudEvent, future: asyncio.Future[CloudEvent] = future) -> None:
            future.set_result(event)

        queue = scratch.instance_queue("api", ["auth.tokens_revoked"])
        processor = DirectProcessor({"auth.tokens_revoked": remember})
        await start(
            consumers, EventConsumer(scratch.connection, scratch.exchange, queue, processor)
        )
    event = sample_event("auth.tokens_revoked")

    await publish(scratch, event)

    for future in received.values():
        assert await asyncio.wait_for(future, WAIT_S) == event


async def test_a_fan_out_consumer_enforces_the_delivery_limit_itself(
    scratch: Scratch, consumers: list[EventConsumer]
) -> None:
    queue = scratch.instance_queue("api", ["auth.tokens_revoked"], delivery_limit=1)
    calls = 0

    async def broken(event: CloudEvent) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("bug")

    processor = DirectProcessor({"auth.tokens_revoked": broken})
    await start(
        consumers,
        EventConsumer(scratch.connection, scratch.exchange, queue, processor, policy=FAST_RETRY),
    )

    await publish(scratch, sample_event("auth.tokens_revoked"))
    assert queue.dead_letter is not None
    dead = await scratch.get(queue.dead_letter.name)

    assert dead.headers[DEATH_REASON_HEADER] == "handler-failed"
    assert dead.headers[DEATH_DELIVERIES_HEADER] == 2
    assert calls == 2


async def test_close_waits_for_the_handler_in_flight(
    db: AsyncDatabase[Any], scratch: Scratch
) -> None:
    queue = scratch.service_queue("api", ["user.registered"])
    entered, release = asyncio.Event(), asyncio.Event()
    write = profile_writer(db)

    async def slow(event: CloudEvent, session: AsyncClientSession) -> None:
        entered.set()
        await release.wait()
        await write(event, session)

    processor = InboxProcessor(db, {"user.registered": slow})
    consumer = EventConsumer(scratch.connection, scratch.exchange, queue, processor)
    await consumer.start()
    await publish(scratch, registered("u1"))
    await asyncio.wait_for(entered.wait(), WAIT_S)

    closing = asyncio.create_task(consumer.close(grace_period=WAIT_S))
    await asyncio.sleep(0.2)
    assert not closing.done()
    release.set()
    await asyncio.wait_for(closing, WAIT_S)

    assert await applied(db, "u1") == 1
    assert await scratch.get_or_none(queue.name) is None


async def test_close_requeues_a_failed_message_without_waiting_out_its_backoff(
    db: AsyncDatabase[Any], scratch: Scratch
) -> None:
    queue = scratch.service_queue("api", ["user.registered"])
    failed = asyncio.Event()

    async def broken(event: CloudEvent, session: AsyncClientSession) -> None:
        failed.set()
        raise RuntimeError("bug")

    processor = InboxProcessor(db, {"user.registered": broken})
    slow_retry = AckPolicy(retry_base=60, retry_max=60)
    consumer = EventConsumer(
        scratch.connection, scratch.exchange, queue, processor, policy=slow_retry
    )
    await consumer.start()
    event = registered("u1")
    await publish(scratch, event)
    await asyncio.wait_for(failed.wait(), WAIT_S)

    began = time.monotonic()
    await consumer.close(grace_period=WAIT_S)

    assert time.monotonic() - began < 5
    message = await scratch.get(queue.name)
    assert message.message_id == event.id


def test_handlers_must_match_the_queue_bindings(db: AsyncDatabase[Any]) -> None:
    queue = QueueSpec("q", "x", ("user.registered",), delivery_limit=None)
    processor = InboxProcessor(db, {"user.deleted": profile_writer(db)})

    with pytest.raises(TopologyError, match="handles"):
        EventConsumer(object(), object(), queue, processor)


def test_retry_delay_grows_with_failed_deliveries_and_is_bounded() -> None:
    policy = AckPolicy(retry_base=0.5, retry_max=4)

    assert [policy.retry_delay(n) for n in range(1, 7)] == [0.5, 1, 2, 4, 4, 4]


async def test_consumer_on_a_shared_connection_does_not_close_it(
    db: AsyncDatabase[Any], scratch: Scratch, amqp: AbstractRobustConnection
) -> None:
    queue = scratch.service_queue("api", ["user.registered"])
    processor = InboxProcessor(db, {"user.registered": profile_writer(db)})
    consumer = EventConsumer(amqp, scratch.exchange, queue, processor)
    await consumer.start()
    await consumer.close()
    await consumer.close()

    assert not amqp.is_closed


async def test_a_transaction_left_open_holds_the_event_until_it_ends_without_spending_deliveries(
    db: AsyncDatabase[Any], scratch: Scratch, consumers: list[EventConsumer]
) -> None:
    # Found by the MongoDB chaos test: a transaction an outage cut off holds its documents until
    # the server reaps it (60 s); the event touching them met write conflicts on every
    # delivery and was dead-lettered. Contention is waited out like an outage now.
    queue = scratch.service_queue("api", ["user.registered"], delivery_limit=1)
    write = profile_writer(db)
    attempts = 0

    async def counted(event: CloudEvent, session: AsyncClientSession) -> None:
        nonlocal attempts
        attempts += 1
        await write(event, session)

    async with db.client.start_session() as blocker:
        await blocker.start_transaction()
        await db["profiles"].update_one(
            {"_id": "u1"}, {"$set": {"held": True}}, upsert=True, session=blocker
        )  # the abandoned transaction: holds u1's document, never commits
        processor = InboxProcessor(db, {"user.registered": counted})
        await start(
            consumers,
            EventConsumer(
                scratch.connection, scratch.exchange, queue, processor, policy=FAST_RETRY
            ),
        )
        await publish(scratch, registered("u1"))

        async def conflicted_often() -> bool:
            return attempts > 6  # far more than the one delivery allowed

        await eventually(conflicted_often, "the handler meeting the held document")
        await blocker.abort_transaction()  # what the server's reaping does

    async def done() -> bool:
        return await applied(db, "u1") == 1

    await eventually(done, "the event applied once the document is free")
    assert queue.dead_letter is not None
    assert await ready_count(scratch, queue.dead_letter.name) == 0
