"""Confirmed publishing: properties on the wire, unroutable events, missing exchange, timeout."""

from __future__ import annotations

import pytest
import structlog
from aio_pika import DeliveryMode
from aio_pika.abc import AbstractRobustConnection
from events_scratch import Scratch
from tracing_spans import TRACER, finished, parent_id, traceparent_of

from nocturnal.shared.events.envelope import new_event, parse
from nocturnal.shared.events.publisher import EventPublisher, PublishError
from nocturnal.shared.events.topology import ExchangeSpec


async def test_confirmed_publish_reaches_the_bound_queue_with_its_properties(
    scratch: Scratch,
) -> None:
    queue = scratch.service_queue("api", ["user.registered"])
    await scratch.declare(queue)
    with (
        structlog.contextvars.bound_contextvars(request_id="req-9"),
        TRACER.start_as_current_span("request") as request,
    ):
        event = new_event("user.registered", {"user_id": "u1"}, service="auth", subject="u1")

    async with EventPublisher(scratch.connection, scratch.exchange) as publisher:
        await publisher.publish_confirmed(event)

    message = await scratch.get(queue.name)
    assert parse(message.body) == event
    assert message.routing_key == "user.registered"
    assert message.message_id == event.id
    assert message.type == "nocturnal.user.registered.v1"
    assert message.content_type == "application/cloudevents+json"
    assert message.delivery_mode == DeliveryMode.PERSISTENT
    assert message.app_id == "auth"
    assert message.headers["x-request-id"] == "req-9"
    # The publish continues the trace stored with the event; its span rides in the headers.
    (publish,) = finished("user.registered publish")
    assert parent_id(publish) == request.get_span_context().span_id
    assert message.headers["traceparent"] == traceparent_of(publish)


async def test_unroutable_publish_raises_publish_error(scratch: Scratch) -> None:
    await scratch.declare(scratch.service_queue("api", ["user.registered"]))
    event = new_event("duty.posted", {}, service="api")

    async with EventPublisher(scratch.connection, scratch.exchange) as publisher:
        with pytest.raises(PublishError) as raised:
            await publisher.publish_confirmed(event)
        assert raised.value.reason == "unroutable"
        assert raised.value.event_id == event.id

        # The channel stays usable after a return.
        await publisher.publish_confirmed(new_event("user.registered", {}, service="auth"))


async def test_publishing_to_a_missing_exchange_fails_then_recovers(scratch: Scratch) -> None:
    event = new_event("user.registered", {}, service="auth")
    publisher = EventPublisher(scratch.connection, scratch.exchange, confirm_timeout=5)

    with pytest.raises(PublishError) as raised:
        await publisher.publish_confirmed(event)
    assert raised.value.reason == "broker"

    queue = scratch.service_queue("api", ["user.registered"])
    await scratch.declare(queue)
    await publisher.publish_confirmed(event)
    await publisher.close()

    assert parse((await scratch.get(queue.name)).body) == event


async def test_a_confirm_that_does_not_come_in_time_raises_publish_error(scratch: Scratch) -> None:
    await scratch.declare(scratch.service_queue("api", ["user.registered"]))
    publisher = EventPublisher(scratch.connection, scratch.exchange, confirm_timeout=1e-6)

    with pytest.raises(PublishError) as raised:
        await publisher.publish_confirmed(new_event("user.registered", {}, service="auth"))
    assert raised.value.reason == "timeout"
    await publisher.close()


async def test_a_closed_publisher_refuses_to_publish(amqp: AbstractRobustConnection) -> None:
    publisher = EventPublisher(amqp, ExchangeSpec("test.events.never"))
    await publisher.close()

    with pytest.raises(PublishError):
        await publisher.publish_confirmed(new_event("user.registered", {}, service="auth"))


def test_the_confirm_timeout_must_be_positive(amqp: AbstractRobustConnection) -> None:
    with pytest.raises(ValueError):
        EventPublisher(amqp, confirm_timeout=0)
