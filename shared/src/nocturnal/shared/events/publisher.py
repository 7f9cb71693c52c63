"""Publishing events to RabbitMQ with publisher confirms, ``mandatory`` routing and a timeout."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from types import TracebackType
from typing import Final, Protocol, Self

import aiormq.exceptions
from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, HeadersType
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from nocturnal.shared.events.envelope import CLOUDEVENTS_CONTENT_TYPE, CloudEvent
from nocturnal.shared.events.topology import ExchangeSpec
from nocturnal.shared.tracing import publishing

__all__ = [
    "REQUEST_ID_HEADER",
    "TRACEPARENT_HEADER",
    "ConfirmedChannel",
    "ConfirmedPublisher",
    "EventPublisher",
    "MessageNotConfirmed",
    "PublishError",
    "to_message",
]

REQUEST_ID_HEADER: Final = "x-request-id"
TRACEPARENT_HEADER: Final = "traceparent"
"""AMQP header names carrying the request id and the W3C trace context next to the envelope."""


class PublishError(Exception):
    """The broker did not take responsibility for an event.

    ``reason`` is one of ``"unroutable"`` (returned: no queue bound for the routing key),
    ``"nacked"`` (negative confirm), ``"timeout"`` (no confirm within the timeout) or
    ``"broker"`` (channel or connection failure). Publishing again may duplicate the event;
    consumers deduplicate by event id.
    """

    def __init__(self, event: CloudEvent, reason: str, detail: str = "") -> None:
        self.event_id = event.id
        self.event_name = event.name
        self.reason = reason
        super().__init__(f"event {event.name} {event.id} not published: {reason} {detail}".strip())


class ConfirmedPublisher(Protocol):
    """Anything that publishes an event and returns only once the broker confirmed it."""

    async def publish_confirmed(self, event: CloudEvent) -> None:
        """Publish ``event``; raise :class:`PublishError` unless the broker confirmed it."""
        ...


def to_message(event: CloudEvent, trace_headers: Mapping[str, str] | None = None) -> Message:
    """The AMQP message of ``event``: CloudEvents AMQP protocol binding 1.0, structured mode.

    Body: the JSON envelope; ``content_type`` ``application/cloudevents+json``; persistent;
    ``message_id`` = ``event.id``; ``type`` = ``event.type``; ``timestamp`` = ``event.time``;
    ``app_id`` = producing service; headers ``x-request-id`` when known and ``trace_headers``
    (the publish span's ``traceparent``; else the event's own, when it has one).
    """
    headers: HeadersType = {}
    if event.requestid is not None:
        headers[REQUEST_ID_HEADER] = event.requestid
    if trace_headers:
        headers.update(trace_headers)
    elif event.traceparent is not None:
        headers[TRACEPARENT_HEADER] = event.traceparent
    return Message(
        event.to_json(),
        content_type=CLOUDEVENTS_CONTENT_TYPE,
        delivery_mode=DeliveryMode.PERSISTENT,
        message_id=event.id,
        type=event.type,
        timestamp=event.time,
        app_id=event.service,
        headers=headers,
    )


class MessageNotConfirmed(Exception):
    """The broker did not take responsibility for a message published on a :class:`ConfirmedChannel`.

    ``reason`` is one of ``"unroutable"`` (returned: no queue bound for the routing key, or no
    queue of that name on the default exchange), ``"nacked"`` (negative confirm), ``"timeout"``
    (no confirm within the timeout) or ``"broker"`` (channel or connection failure, e.g. a
    missing exchange). Publishing again may duplicate the message.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason} {detail}".strip())


class ConfirmedChannel:
    """A channel with publisher confirms on a connection it does not own, publishing AMQP
    messages ``mandatory`` to any exchange and waiting for the broker's confirm.

    A channel closed by a broker error (e.g. a missing exchange) is replaced on the next
    publish. Safe for concurrent use by several tasks.

    Args:
        connection: the AMQP connection (normally an aio-pika robust connection).
        confirm_timeout: seconds allowed for opening the channel, publishing and the confirm.

    Raises:
        ValueError: ``confirm_timeout`` <= 0.
    """

    def __init__(self, connection: AbstractConnection, *, confirm_timeout: float = 5.0) -> None:
        if confirm_timeout <= 0:
            raise ValueError("confirm_timeout must be > 0 seconds")
        self._connection = connection
        self.confirm_timeout = confirm_timeout
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._lock = asyncio.Lock()
        self._closed = False

    async def open(self) -> None:
        """Open the channel now rather than on the first publish.

        Raises:
            aio_pika.exceptions.AMQPError, ConnectionError: the broker is unreachable.
        """
        await self._ready_channel()

    async def close(self) -> None:
        """Close the channel; later publishes raise :class:`MessageNotConfirmed`. Idempotent."""
        self._closed = True
        async with self._lock:
            await self._drop_channel_locked()

    async def publish(self, message: Message, *, exchange: str, routing_key: str) -> None:
        """Publish ``message`` to ``exchange`` (``""``: the default exchange, straight to the
        queue named ``routing_key``) with ``mandatory``, and return once the broker confirmed it
        (it is then stored in every queue it routed to).

        Raises:
            MessageNotConfirmed: unroutable, nacked, no confirm within ``confirm_timeout``
                seconds, channel/connection failure, or channel closed.
        """
        if self._closed:
            raise MessageNotConfirmed("broker", "channel closed")
        try:
            async with asyncio.timeout(self.confirm_timeout):
                target = await self._exchange(exchange)
                await target.publish(message, routing_key=routing_key, mandatory=True)
        except TimeoutError as exc:
            raise MessageNotConfirmed("timeout", f"no confirm in {self.confirm_timeout}s") from exc
        except aiormq.exceptions.PublishError as exc:
            raise MessageNotConfirmed("unroutable", f"no queue for {routing_key!r}") from exc
        except aiormq.exceptions.DeliveryError as exc:
            raise MessageNotConfirmed("nacked") from exc
        except CONNECTION_EXCEPTIONS as exc:
            async with self._lock:
                if self._channel is not None and self._channel.is_closed:
                    await self._drop_channel_locked()
            raise MessageNotConfirmed("broker", repr(exc)) from exc

    async def _exchange(self, name: str) -> AbstractExchange:
        async with self._lock:
            channel = await self._ready_channel_locked()
            if name not in self._exchanges:
                self._exchanges[name] = await channel.get_exchange(name, ensure=False)
            return self._exchanges[name]

    async def _ready_channel(self) -> AbstractChannel:
        async with self._lock:
            return await self._ready_channel_locked()

    async def _ready_channel_locked(self) -> AbstractChannel:
        if self._channel is not None and self._channel.is_closed:
            await self._drop_channel_locked()
        if self._channel is None:
            channel = self._connection.channel(publisher_confirms=True, on_return_raises=True)
            await channel.initialize()
            self._channel = channel
        return self._channel

    async def _drop_channel_locked(self) -> None:
        channel, self._channel = self._channel, None
        self._exchanges.clear()
        if channel is None:
            return
        # Close even a channel the broker closed: a robust channel would otherwise reopen itself
        # in the background and linger unused.
        with contextlib.suppress(TimeoutError, *CONNECTION_EXCEPTIONS):
            async with asyncio.timeout(5.0):
                await channel.close()


class EventPublisher:
    """Publishes events to the event exchange and waits for the broker's confirm.

    Uses a :class:`ConfirmedChannel` of its own (publisher confirms on, returns raise) on a
    connection it does not own — normally an aio-pika robust connection. Safe for concurrent use.

    Args:
        connection: the AMQP connection.
        exchange: where events go; routing key = event name.
        confirm_timeout: seconds allowed for opening the channel, publishing and the confirm.
    """

    def __init__(
        self,
        connection: AbstractConnection,
        exchange: ExchangeSpec | None = None,
        *,
        confirm_timeout: float = 5.0,
    ) -> None:
        self._channel = ConfirmedChannel(connection, confirm_timeout=confirm_timeout)
        self._exchange_name = (exchange or ExchangeSpec()).name

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the confirm channel now rather than on the first publish.

        Raises:
            aio_pika.exceptions.AMQPError, ConnectionError: the broker is unreachable (fail fast
                at start-up rather than on the first event).
        """
        await self._channel.open()

    async def close(self) -> None:
        """Close the channel; later publishes raise :class:`PublishError`. Idempotent."""
        await self._channel.close()

    async def publish_confirmed(self, event: CloudEvent) -> None:
        """Publish ``event`` with routing key ``event.name``, ``mandatory`` and persistent, and
        return once the broker confirmed it (it is then stored in every bound queue).

        Raises:
            PublishError: returned as unroutable, nacked, no confirm within
                ``confirm_timeout`` seconds, channel/connection failure, or publisher closed.
        """
        try:
            with publishing(event.name, event.traceparent) as trace_headers:
                await self._channel.publish(
                    to_message(event, trace_headers),
                    exchange=self._exchange_name,
                    routing_key=event.name,
                )
        except MessageNotConfirmed as exc:
            raise PublishError(event, exc.reason, exc.detail) from exc
