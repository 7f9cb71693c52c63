"""Dead-lettering with a reason: the headers a dead-lettered event carries, and how a consumer
moves a delivery to its dead-letter queue with them.

RabbitMQ's own dead-lettering (``basic.reject`` without requeue, or a quorum queue's delivery
limit) records *that* a message died (the ``x-death`` header: queue, reason ``rejected`` /
``delivery_limit`` / ``expired`` / ``maxlen``, count, time) but never *why*: ``basic.reject``
carries no text. So a consumer that knows why (an invalid envelope or payload, an event it does
not handle, a handler that kept failing) publishes a copy of the message itself to the queue's
dead-letter exchange, with publisher confirms, carrying the headers below, and acks the original
only after the confirm. Header names carry no ``x-`` prefix: RabbitMQ (3.13 and later) treats
``x-`` headers as its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractIncomingMessage, HeadersType

__all__ = [
    "BROKER_HEADERS",
    "DEATH_DELIVERIES_HEADER",
    "DEATH_DETAIL_HEADER",
    "DEATH_HEADERS",
    "DEATH_QUEUE_HEADER",
    "DEATH_REASON_HEADER",
    "DEATH_ROUTING_KEY_HEADER",
    "DEATH_TIME_HEADER",
    "EVENT_ROUTING_KEY_HEADER",
    "DeathReason",
    "copy_message",
    "dead_letter_copy",
]

DEATH_REASON_HEADER: Final = "nocturnal-death-reason"
"""Why the consumer gave the message up: a :class:`DeathReason` value."""
DEATH_DETAIL_HEADER: Final = "nocturnal-death-detail"
"""The reason in words (the validation errors, the handler's last error), at most 1000 chars."""
DEATH_QUEUE_HEADER: Final = "nocturnal-death-queue"
"""The queue the message died in: where a replay sends it back."""
DEATH_ROUTING_KEY_HEADER: Final = "nocturnal-death-routing-key"
"""The routing key it was published with (the event name)."""
DEATH_TIME_HEADER: Final = "nocturnal-death-time"
"""When it died: RFC 3339, UTC."""
DEATH_DELIVERIES_HEADER: Final = "nocturnal-death-deliveries"
"""How many times the queue had delivered it, the last one included."""

EVENT_ROUTING_KEY_HEADER: Final = "nocturnal-routing-key"
"""The routing key (event name) a replayed message was first published with. A replay goes
straight to its queue through the default exchange, whose routing key is the queue's name, so
the event name travels in this header; a message that dies again is recorded under it."""

DEATH_HEADERS: Final = frozenset(
    {
        DEATH_DELIVERIES_HEADER,
        DEATH_DETAIL_HEADER,
        DEATH_QUEUE_HEADER,
        DEATH_REASON_HEADER,
        DEATH_ROUTING_KEY_HEADER,
        DEATH_TIME_HEADER,
    }
)
"""Every header a consumer adds when it dead-letters a message."""

BROKER_HEADERS: Final = frozenset(
    {
        "x-death",
        "x-delivery-count",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)
"""Headers RabbitMQ writes on delivery and dead-lettering; a client never publishes them."""

_DETAIL_MAX_CHARS: Final = 1000


class DeathReason(StrEnum):
    """Why a consumer dead-lettered a message (the ``nocturnal-death-reason`` header)."""

    INVALID_ENVELOPE = "invalid-envelope"
    """The body is not a CloudEvents 1.0 structured JSON event of ours."""
    INVALID_PAYLOAD = "invalid-payload"
    """The event's ``data`` does not match its catalogue model."""
    UNHANDLED_EVENT = "unhandled-event"
    """The queue received an event its consumer has no handler for (a binding error)."""
    HANDLER_FAILED = "handler-failed"
    """The handler failed on every delivery up to the queue's delivery limit."""


def dead_letter_copy(
    message: AbstractIncomingMessage,
    *,
    queue: str,
    reason: DeathReason,
    detail: str,
    deliveries: int,
) -> Message:
    """The copy of ``message`` to publish to its queue's dead-letter exchange.

    Same body and properties (persistent); headers without RabbitMQ's own (:data:`BROKER_HEADERS`)
    and with the death headers: ``reason``, ``detail`` (cut to 1000 characters), ``queue`` (where
    the message died), its routing key (for a replay through the default exchange, the one in
    :data:`EVENT_ROUTING_KEY_HEADER`), the time, and ``deliveries`` (the queue's deliveries of
    it, this one included).
    """
    headers: HeadersType = {}
    headers[DEATH_REASON_HEADER] = reason.value
    headers[DEATH_DETAIL_HEADER] = detail[:_DETAIL_MAX_CHARS]
    headers[DEATH_QUEUE_HEADER] = queue
    routing_key: object = message.routing_key
    if not message.exchange:  # replayed straight to the queue: its routing key is the queue's
        routing_key = (message.headers or {}).get(EVENT_ROUTING_KEY_HEADER, routing_key)
    if isinstance(routing_key, bytes):
        routing_key = routing_key.decode(errors="replace")
    if isinstance(routing_key, str):
        headers[DEATH_ROUTING_KEY_HEADER] = routing_key
    headers[DEATH_TIME_HEADER] = _rfc3339_now()
    headers[DEATH_DELIVERIES_HEADER] = deliveries
    return copy_message(message, headers)


def copy_message(message: AbstractIncomingMessage, headers: HeadersType) -> Message:
    """``message`` to publish again: same body and properties, persistent, its application
    headers without RabbitMQ's (:data:`BROKER_HEADERS`) and the death headers
    (:data:`DEATH_HEADERS`), then ``headers`` added."""
    kept: HeadersType = {
        key: value
        for key, value in (message.headers or {}).items()
        if key not in BROKER_HEADERS and key not in DEATH_HEADERS
    }
    return Message(
        message.body,
        headers=kept | headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=DeliveryMode.PERSISTENT,
        priority=message.priority,
        correlation_id=message.correlation_id,
        message_id=message.message_id,
        timestamp=message.timestamp,
        type=message.type,
        app_id=message.app_id,
    )


def _rfc3339_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
