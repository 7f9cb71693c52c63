"""Dead-letter queues as an operator sees them: their depths, their messages with the reason each
died, replaying messages to the queue they died in, and purging.

Only AMQP is used (no management plugin). Looking at messages takes them with ``basic.get``
without acknowledging, then returns them in order with ``basic.nack`` (requeue): nothing is
consumed for good, and from RabbitMQ 4.3 a nack does not count as a failed delivery.

A replay publishes each message through the default exchange straight to the queue it died in,
``mandatory`` with publisher confirms, and acks it in the dead-letter queue only after the
confirm. A replay cut short (Ctrl-C, a lost connection) therefore loses nothing: every message
not yet confirmed is still unacknowledged, and RabbitMQ returns it to the dead-letter queue. The
one window left is between a confirm and its ack: the message is then in both queues, and the
consumer's inbox (by event id) applies it once.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    HeadersType,
)
from aio_pika.exceptions import ChannelNotFoundEntity
from aiormq.exceptions import ChannelLockedResource

from nocturnal.shared.events import (
    ConfirmedChannel,
    ExchangeSpec,
    MessageNotConfirmed,
    catalogue_queue_names,
)
from nocturnal.shared.events.dead_letter import (
    DEATH_DELIVERIES_HEADER,
    DEATH_DETAIL_HEADER,
    DEATH_QUEUE_HEADER,
    DEATH_REASON_HEADER,
    DEATH_ROUTING_KEY_HEADER,
    DEATH_TIME_HEADER,
    EVENT_ROUTING_KEY_HEADER,
    copy_message,
)

__all__ = [
    "REPLAYS_HEADER",
    "DeadLetter",
    "QueueDepth",
    "QueueNotFound",
    "ReplayReport",
    "dead_letter_queue_names",
    "depths",
    "discard",
    "peek",
    "purge",
    "replay",
]

REPLAYS_HEADER: Final = "nocturnal-replays"
"""How many times operators replayed the message (added by :func:`replay`)."""


class QueueNotFound(Exception):
    """The named queue does not exist on the broker."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        super().__init__(f"queue {queue!r} does not exist")


@dataclass(frozen=True)
class QueueDepth:
    """A dead-letter queue: ``messages`` waiting (None: not declared), ``consumers`` attached."""

    name: str
    messages: int | None
    consumers: int


@dataclass(frozen=True)
class DeadLetter:
    """One message of a dead-letter queue and why it died.

    ``reason`` and ``detail`` come from the consumer's ``nocturnal-death-*`` headers, or else
    from RabbitMQ's ``x-death`` (``rejected``, ``delivery_limit``, ...; no detail). ``queue`` is
    the queue it died in (where a replay sends it), ``deliveries`` how often that queue had
    delivered it when it died (None when unknown), ``deaths`` RabbitMQ's ``x-death`` entries.
    """

    message_id: str | None
    event_type: str | None
    routing_key: str | None
    reason: str
    detail: str | None
    queue: str | None
    died_at: str | None
    deliveries: int | None
    replays: int
    deaths: list[dict[str, Any]]
    body: bytes = field(repr=False)

    @classmethod
    def of(cls, message: AbstractIncomingMessage) -> DeadLetter:
        """Read the death headers of ``message`` (taken from a dead-letter queue)."""
        headers = message.headers or {}
        deaths = [_plain(death) for death in _list(headers.get("x-death"))]
        last = deaths[0] if deaths else {}  # RabbitMQ puts the most recent death first
        routing_keys = _list(last.get("routing-keys")) or [message.routing_key]
        return cls(
            message_id=message.message_id,
            event_type=message.type,
            routing_key=_text(headers.get(DEATH_ROUTING_KEY_HEADER)) or _text(routing_keys[0]),
            reason=_text(headers.get(DEATH_REASON_HEADER)) or _text(last.get("reason")) or "?",
            detail=_text(headers.get(DEATH_DETAIL_HEADER)),
            queue=_text(headers.get(DEATH_QUEUE_HEADER)) or _text(last.get("queue")),
            died_at=_text(headers.get(DEATH_TIME_HEADER)) or _text(last.get("time")),
            deliveries=_int(headers.get(DEATH_DELIVERIES_HEADER)),
            replays=_int(headers.get(REPLAYS_HEADER)) or 0,
            deaths=deaths,
            body=message.body,
        )


@dataclass
class ReplayReport:
    """What a replay did: ``replayed`` message ids (in order), ``refused`` (id → why it stayed
    in the dead-letter queue)."""

    replayed: list[str | None] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def dead_letter_queue_names(exchange: ExchangeSpec) -> list[str]:
    """Every dead-letter queue the platform declares on ``exchange`` (from the catalogue)."""
    return [name for name in catalogue_queue_names(exchange) if name.endswith(".dlq")]


async def depths(connection: AbstractConnection, names: Iterable[str]) -> list[QueueDepth]:
    """The depth and consumer count of each queue of ``names`` (``messages`` None if missing)."""
    found = []
    for name in names:
        try:
            messages, consumers = await _counts(connection, name)
        except QueueNotFound:
            found.append(QueueDepth(name, None, 0))
            continue
        found.append(QueueDepth(name, messages, consumers))
    return found


async def peek(connection: AbstractConnection, queue: str, *, limit: int) -> list[DeadLetter]:
    """The first ``limit`` messages of ``queue`` with their death reasons; all stay in it.

    Raises:
        QueueNotFound: no such queue.
    """
    async with _taking(connection, queue) as take:
        return [DeadLetter.of(message) async for message in take(limit)]


async def replay(
    connection: AbstractConnection, queue: str, *, message_id: str | None = None
) -> ReplayReport:
    """Send the messages of dead-letter queue ``queue`` (all of them, or those whose message id
    is ``message_id``) back to the queue each died in, each exactly once (see the module).

    A message whose queue of death is unknown or no longer exists, or that the broker refused,
    stays in ``queue`` and is listed in ``refused``. Only the messages there when the replay
    starts are looked at, so one that dies again meanwhile is not replayed twice.

    Raises:
        QueueNotFound: ``queue`` does not exist.
    """
    report = ReplayReport()
    publisher = ConfirmedChannel(connection)
    known: dict[str, bool] = {}
    try:
        async with _taking(connection, queue) as take:
            messages, _ = await _counts(connection, queue)
            async for message in take(messages):
                dead = DeadLetter.of(message)
                if message_id is not None and dead.message_id != message_id:
                    continue
                refusal = await _replay_one(connection, publisher, message, dead, known)
                if refusal is None:
                    report.replayed.append(dead.message_id)
                else:
                    report.refused[dead.message_id or "(no id)"] = refusal
    finally:
        await publisher.close()
    return report


async def purge(connection: AbstractConnection, queue: str) -> int:
    """Delete every message of ``queue``; returns how many there were.

    Raises:
        QueueNotFound: no such queue.
    """
    await _counts(connection, queue)
    async with _channel(connection) as channel:
        amqp_queue = await channel.get_queue(queue, ensure=False)
        result = await amqp_queue.purge()
    return int(result.message_count or 0)


async def discard(connection: AbstractConnection, queue: str, message_id: str) -> int:
    """Delete the messages of ``queue`` whose message id is ``message_id``; returns how many.

    Raises:
        QueueNotFound: no such queue.
    """
    discarded = 0
    async with _taking(connection, queue) as take:
        messages, _ = await _counts(connection, queue)
        async for message in take(messages):
            if message.message_id == message_id:
                await message.ack()
                discarded += 1
    return discarded


async def _replay_one(
    connection: AbstractConnection,
    publisher: ConfirmedChannel,
    message: AbstractIncomingMessage,
    dead: DeadLetter,
    known: dict[str, bool],
) -> str | None:
    """Replay ``message``; None when done, else why it stays in the dead-letter queue."""
    target = dead.queue
    if target is None:
        return "the queue it died in is unknown"
    if target not in known:
        known[target] = await _exists(connection, target)
    if not known[target]:
        return f"refused: queue {target!r} does not exist"
    try:
        headers: HeadersType = {REPLAYS_HEADER: dead.replays + 1}
        if dead.routing_key is not None:
            headers[EVENT_ROUTING_KEY_HEADER] = dead.routing_key
        replayed = copy_message(message, headers)
        await publisher.publish(replayed, exchange="", routing_key=target)
    except MessageNotConfirmed as exc:  # the message stays where it is, unacked
        return f"not replayed to {target!r}: {exc}"
    await message.ack()
    return None


@contextlib.asynccontextmanager
async def _taking(connection: AbstractConnection, queue: str) -> AsyncIterator[Any]:
    """``take(n)``: up to ``n`` messages of ``queue``, unacknowledged. Those not acked by the
    caller go back to the queue, in their order, when the block ends (or the channel dies)."""
    await _counts(connection, queue)
    async with _channel(connection) as channel:
        amqp_queue = await channel.get_queue(queue, ensure=False)
        held: list[AbstractIncomingMessage] = []

        async def take(limit: int) -> AsyncIterator[AbstractIncomingMessage]:
            for _ in range(limit):
                message = await amqp_queue.get(no_ack=False, fail=False)
                if message is None:
                    return
                held.append(message)
                yield message

        try:
            yield take
        finally:
            for message in held:
                if not message.processed:
                    await message.nack(requeue=True)


@contextlib.asynccontextmanager
async def _channel(connection: AbstractConnection) -> AsyncIterator[AbstractChannel]:
    channel = await connection.channel(publisher_confirms=False)
    try:
        yield channel
    finally:
        if not channel.is_closed:
            await channel.close()


async def _counts(connection: AbstractConnection, queue: str) -> tuple[int, int]:
    """(messages, consumers) of ``queue``, declared passively on a channel of its own (a missing
    queue closes the channel).

    Raises:
        QueueNotFound: no such queue.
    """
    try:
        async with _channel(connection) as channel:
            declared = await channel.declare_queue(queue, passive=True)
    except ChannelNotFoundEntity:
        raise QueueNotFound(queue) from None
    result = declared.declaration_result
    return int(result.message_count or 0), int(result.consumer_count or 0)


async def _exists(connection: AbstractConnection, queue: str) -> bool:
    try:
        await _counts(connection, queue)
    except QueueNotFound:
        return False
    except ChannelLockedResource:
        return True  # another connection's exclusive queue (a fan-out queue): it exists
    return True


def _plain(value: Any) -> Any:
    """An AMQP header value made printable: bytes decoded, times as RFC 3339."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _text(value: Any) -> str | None:
    plain = _plain(value)
    return None if plain is None or plain == "" else str(plain)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
