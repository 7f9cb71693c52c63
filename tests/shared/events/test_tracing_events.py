"""One trace across the broker: a request's event, stored in the outbox, is published by the
relay in the request's trace, and the consuming service handles it in a span that is the
publish span's child and links to it (SDK in-memory exporter; real MongoDB and RabbitMQ)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from event_samples import sample_data
from events_scratch import Scratch
from opentelemetry.trace import SpanKind
from polling import WAIT_S
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from tracing_spans import TRACER, finished, parent_id

from nocturnal.shared.events import CloudEvent, EventBus, service_queue


def bus(amqp_url: str, scratch: Scratch, service: str, db: AsyncDatabase[Any]) -> EventBus:
    scratch.track(service_queue(scratch.exchange, service, ["placeholder.event"]))
    return EventBus(
        amqp_url, service=service, instance="test-host", db=db, exchange=scratch.exchange
    )


async def test_the_outbox_publish_and_the_consumers_handling_continue_the_requests_trace(
    amqp_url: str, scratch: Scratch, db: AsyncDatabase[Any]
) -> None:
    handled = asyncio.Event()

    async def create_profile(event: CloudEvent, session: AsyncClientSession) -> None:
        handled.set()

    producer = bus(amqp_url, scratch, "auth", db)
    consumer = bus(amqp_url, scratch, "profiles", db)
    consumer.subscribe({"user.registered": create_profile})
    async with consumer, producer:
        with (
            structlog.contextvars.bound_contextvars(request_id="req-9"),
            TRACER.start_as_current_span("POST /api/auth/register") as request,
        ):
            registered = producer.event("user.registered", sample_data("user.registered"))
            async with db.client.start_session() as session, await session.start_transaction():
                await producer.outbox.add(registered, session=session)
        # The relay publishes later, in its own task: the trace travels with the stored event.
        producer.notify()
        await asyncio.wait_for(handled.wait(), WAIT_S)

    (publish,) = finished("user.registered publish")
    (process,) = finished("user.registered process")
    trace_id = request.get_span_context().trace_id
    assert publish.kind is SpanKind.PRODUCER and process.kind is SpanKind.CONSUMER
    assert publish.context.trace_id == process.context.trace_id == trace_id
    assert parent_id(publish) == request.get_span_context().span_id
    assert parent_id(process) == publish.context.span_id
    assert [link.context.span_id for link in process.links] == [publish.context.span_id]
    assert process.attributes is not None
    assert process.attributes["nocturnal.request_id"] == "req-9"
