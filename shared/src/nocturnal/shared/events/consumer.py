"""Consuming events: inbox deduplication in MongoDB, the acknowledgement policy, the consumer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from pydantic import ValidationError
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from nocturnal.shared.events.catalogue import EVENTS
from nocturnal.shared.events.dead_letter import DeathReason, dead_letter_copy
from nocturnal.shared.events.envelope import CloudEvent, InvalidEventError, parse
from nocturnal.shared.events.publisher import ConfirmedChannel, MessageNotConfirmed
from nocturnal.shared.events.topology import (
    ExchangeSpec,
    QueueSpec,
    QueueType,
    TopologyError,
    declare,
)
from nocturnal.shared.metrics import EVENTS_DEAD_LETTERED
from nocturnal.shared.mongo_errors import database_unavailable, transaction_contended
from nocturnal.shared.mongo_sessions import transaction_session
from nocturnal.shared.tracing import consuming

__all__ = [
    "ACK_POLICY",
    "INBOX_COLLECTION",
    "AckPolicy",
    "DirectHandler",
    "DirectProcessor",
    "EventConsumer",
    "EventProcessor",
    "Handler",
    "Inbox",
    "InboxProcessor",
]

INBOX_COLLECTION: Final = "inbox"
DEFAULT_RETENTION: Final = timedelta(days=7)

Handler = Callable[[CloudEvent, AsyncClientSession], Awaitable[None]]
"""Applies an event's effect, writing only through the given session (inside the inbox
transaction). Raises on failure; the event is then retried."""

DirectHandler = Callable[[CloudEvent], Awaitable[None]]
"""Applies an event without the inbox: for effects idempotent by themselves (in-memory state of
fan-out consumers, a Redis ``SET`` with TTL). Raises on failure; the event is then retried."""

_BROKER_CALL_TIMEOUT_S: Final = 5.0

_log = structlog.get_logger(__name__)


class Inbox:
    """The ``inbox`` collection of a service database: ids of events whose effect is stored.

    Entry shape: ``{_id: <event id>, type: str, source: str, processed_at: datetime}``. Unique by
    event id (``_id``); entries expire ``retention`` after processing (TTL index), which must
    exceed how long a duplicate can arrive (outbox lease + broker redelivery: minutes).
    """

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.collection: AsyncCollection[Any] = db[INBOX_COLLECTION]

    async def ensure_indexes(self, *, retention: timedelta = DEFAULT_RETENTION) -> None:
        """Create the TTL index on ``processed_at``; idempotent.

        Raises:
            pymongo.errors.PyMongoError: MongoDB refused or is unreachable.
        """
        await self.collection.create_index(
            "processed_at", expireAfterSeconds=int(retention.total_seconds()), name="processed_ttl"
        )

    async def claim(self, event: CloudEvent, *, session: AsyncClientSession) -> bool:
        """Record ``event`` as processed inside the transaction on ``session``.

        Returns False when the inbox already holds its id (a duplicate delivery: skip it; the
        server has then aborted the transaction). A concurrent transaction claiming the same id
        makes this raise a ``TransientTransactionError`` (write conflict) instead.

        Raises:
            pymongo.errors.PyMongoError: write conflict or any other MongoDB failure.
        """
        record = {
            "_id": event.id,
            "type": event.type,
            "source": event.source,
            "processed_at": datetime.now(UTC),
        }
        try:
            await self.collection.insert_one(record, session=session)
        except DuplicateKeyError:
            return False
        return True


class EventProcessor(Protocol):
    """Applies events of the names it handles; used by :class:`EventConsumer`."""

    @property
    def event_names(self) -> frozenset[str]:
        """The event names (routing keys) it has a handler for."""
        ...

    async def process(self, event: CloudEvent) -> bool:
        """Apply ``event``; return False if it was a duplicate and skipped. Raise on failure."""
        ...


class InboxProcessor:
    """Runs a :data:`Handler` exactly once per event id, in one MongoDB transaction with the inbox.

    For each event: start a transaction (snapshot reads, majority commit), claim the id in the
    inbox (a duplicate → abort, skipped), run the handler with the session, commit. Transient
    transaction errors (write conflicts, e.g. the same event handled concurrently elsewhere) are
    retried up to ``transaction_attempts`` times before the failure is reported. ``on_commit`` is
    called after each commit (e.g. the outbox relay's ``notify`` for events the handler added).

    Args:
        db: the service database (its ``inbox`` collection; ``db.client`` opens the sessions).
        handlers: event name → handler.
    """

    def __init__(
        self,
        db: AsyncDatabase[Any],
        handlers: Mapping[str, Handler],
        *,
        on_commit: Callable[[], None] | None = None,
        transaction_attempts: int = 3,
    ) -> None:
        if transaction_attempts < 1:
            raise ValueError("transaction_attempts must be >= 1")
        self._db = db
        self._inbox = Inbox(db)
        self._handlers = dict(handlers)
        self._on_commit = on_commit
        self._attempts = transaction_attempts

    @property
    def event_names(self) -> frozenset[str]:
        """The event names it has a handler for."""
        return frozenset(self._handlers)

    async def process(self, event: CloudEvent) -> bool:
        """Apply ``event`` once; return False if the inbox already had it.

        Raises:
            KeyError: no handler for ``event.name``.
            Exception: whatever the handler raised, or a MongoDB error (the transaction was
                aborted: no effect and no inbox entry were stored).
        """
        handler = self._handlers[event.name]
        for attempt in range(1, self._attempts + 1):
            try:
                applied = await self._in_transaction(event, handler)
            except PyMongoError as exc:
                if attempt < self._attempts and exc.has_error_label("TransientTransactionError"):
                    continue
                raise
            if applied and self._on_commit is not None:
                self._on_commit()
            return applied
        raise AssertionError("unreachable")  # pragma: no cover

    async def _in_transaction(self, event: CloudEvent, handler: Handler) -> bool:
        async with (
            transaction_session(self._db.client) as session,
            await session.start_transaction(
                read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
            ),
        ):
            if not await self._inbox.claim(event, session=session):
                await session.abort_transaction()
                return False
            await handler(event, session)
        return True


class DirectProcessor:
    """Runs a :data:`DirectHandler` per event, without inbox or transaction.

    For fan-out consumers keeping state in memory, and for services without MongoDB whose
    handlers are idempotent by themselves.
    """

    def __init__(self, handlers: Mapping[str, DirectHandler]) -> None:
        self._handlers = dict(handlers)

    @property
    def event_names(self) -> frozenset[str]:
        """The event names it has a handler for."""
        return frozenset(self._handlers)

    async def process(self, event: CloudEvent) -> bool:
        """Apply ``event``; always True. Raises: KeyError (no handler), or the handler's error."""
        await self._handlers[event.name](event)
        return True


@dataclass(frozen=True)
class AckPolicy:
    """The acknowledgement policy of every Nocturnal consumer: the only place that settles.

    - effect stored (or a duplicate already in the inbox) → ``ack``;
    - invalid envelope, invalid payload, an event nobody handles, or the handler's last failure
      within the delivery limit → the consumer publishes a copy with the reason to the
      dead-letter exchange (confirmed; :mod:`nocturnal.shared.events.dead_letter`), then
      ``ack`` (:meth:`dead_lettered`); should that publish fail, ``reject(requeue=False)``
      (:meth:`dead_letter`): RabbitMQ dead-letters it without the reason, which stays in the log;
    - handler failed before the limit → wait :meth:`retry_delay` of the failed deliveries so
      far, then ``reject(requeue=True)``; a quorum queue counts it (``x-delivery-count``) and
      would dead-letter it itself past ``x-delivery-limit`` (a classic queue's count is kept by
      the consumer).

    Args:
        retry_base, retry_max: seconds; the n-th failed delivery waits
            ``min(retry_max, retry_base * 2**(n-1))`` before going back to the queue.
    """

    retry_base: float = 0.5
    retry_max: float = 30.0

    def retry_delay(self, failed_deliveries: int) -> float:
        """Seconds to hold a failed delivery (counting this one, ≥ 1) before requeueing it."""
        return min(self.retry_max, self.retry_base * 2.0 ** max(failed_deliveries - 1, 0))

    async def processed(self, message: AbstractIncomingMessage) -> None:
        """The effect is stored: remove the message from the queue."""
        await message.ack()

    async def dead_lettered(self, message: AbstractIncomingMessage) -> None:
        """Its copy with the reason is confirmed in the dead-letter queue: remove the original."""
        await message.ack()

    async def dead_letter(self, message: AbstractIncomingMessage) -> None:
        """The message can never succeed here: let RabbitMQ dead-letter it (without a reason)."""
        await message.reject(requeue=False)

    async def retry(self, message: AbstractIncomingMessage) -> None:
        """The handler failed: give the message back to the queue as a failed delivery."""
        # reject, not nack: from RabbitMQ 4.3 only basic.reject counts as a failed delivery and
        # raises x-delivery-count towards x-delivery-limit, while basic.nack requeues without
        # counting (earlier versions count both); a poison message must count, or it would
        # loop forever instead of being dead-lettered.
        await message.reject(requeue=True)


ACK_POLICY: Final = AckPolicy()


class EventConsumer:
    """Consumes one queue and settles each delivery by :class:`AckPolicy`.

    For each message: parse the CloudEvent, open a CONSUMER span in the publisher's trace
    (from the event's ``traceparent``; ``nocturnal.shared.tracing.consuming``), bind its
    ``requestid`` (as ``request_id``) plus ``event_id``/``event_name`` into the structlog
    contextvars, validate its ``data`` against the event's catalogue model, let the processor
    apply it (with :class:`InboxProcessor` the effect and the inbox entry commit in one
    transaction), and ack only after that. An invalid envelope or payload never heals: it is
    dead-lettered at once, with its reason, and the consumer goes on with the next message.
    At most ``prefetch`` messages are in flight, handled concurrently.

    On a robust connection the channel, qos, queue, bindings and consumer are restored after a
    connection loss or a broker restart; :attr:`attached` is False until then (readiness).

    Args:
        connection: an aio-pika (robust) connection, not owned.
        exchange: the event exchange (declared with its DLX on start).
        queue: the queue to declare and consume; its routing keys must equal the processor's
            event names.
        processor: :class:`InboxProcessor` or :class:`DirectProcessor`.
        prefetch: maximum unacknowledged deliveries (≥ 1).
        policy: the acknowledgement policy (retry delays).
        handler_timeout: seconds one event may take; longer counts as a failed delivery.
        on_reattach: awaited (in a task of its own) after each reconnect. An exclusive fan-out
            queue dies with its connection, so events of the gap are lost: reload the state here
            (e.g. the last revocations from auth).

    Raises:
        TopologyError: routing keys and handlers disagree, or an event is not in the catalogue.
        ValueError: ``prefetch`` < 1 or ``handler_timeout`` <= 0.
    """

    def __init__(
        self,
        connection: AbstractConnection,
        exchange: ExchangeSpec,
        queue: QueueSpec,
        processor: EventProcessor,
        *,
        prefetch: int = 16,
        policy: AckPolicy = ACK_POLICY,
        handler_timeout: float = 60.0,
        on_reattach: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if prefetch < 1:
            raise ValueError("prefetch must be >= 1")
        if handler_timeout <= 0:
            raise ValueError("handler_timeout must be > 0 seconds")
        if set(queue.routing_keys) != processor.event_names:
            raise TopologyError(
                f"queue {queue.name!r} binds {sorted(queue.routing_keys)} "
                f"but handles {sorted(processor.event_names)}"
            )
        if uncatalogued := sorted(processor.event_names - EVENTS.keys()):
            raise TopologyError(f"queue {queue.name!r} handles uncatalogued events {uncatalogued}")
        self.queue = queue
        self._connection = connection
        self._exchange = exchange
        self._processor = processor
        self._prefetch = prefetch
        self._policy = policy
        self._handler_timeout = handler_timeout
        self._on_reattach = on_reattach
        self._reattach_tasks: set[asyncio.Task[None]] = set()
        self._channel: AbstractChannel | None = None
        self._amqp_queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._underlay: object = None
        self._dead_letters = ConfirmedChannel(connection)
        self._closing = asyncio.Event()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._classic_failures: dict[str, int] = {}

    @property
    def attached(self) -> bool:
        """True while the broker delivers to this consumer (for readiness); False before
        :meth:`start`, after :meth:`close`, and while the connection is being restored."""
        if self._consumer_tag is None or self._channel is None or self._channel.is_closed:
            return False
        consumers = getattr(self._underlay, "consumers", {})
        return bool(self._consumer_tag in consumers)

    async def start(self) -> None:
        """Open a channel, set the prefetch, declare the topology and start consuming.

        Raises:
            RuntimeError: already started, or closed.
            aio_pika.exceptions.AMQPError: the broker refused (e.g. a queue exists with other
                arguments) or is unreachable.
        """
        if self._channel is not None or self._closing.is_set():
            raise RuntimeError("EventConsumer already started or closed")
        channel = self._connection.channel(publisher_confirms=False)
        await channel.initialize()
        self._channel = channel
        await channel.set_qos(prefetch_count=self._prefetch)
        queues = await declare(channel, self._exchange, self.queue)
        self._amqp_queue = queues[self.queue.name]
        await self._dead_letters.open()
        self._underlay = await channel.get_underlay_channel()
        if isinstance(channel, AbstractRobustChannel):
            channel.reopen_callbacks.add(self._on_reopen)
        self._consumer_tag = await self._amqp_queue.consume(self._on_message)
        _log.info("event_consumer_attached", queue=self.queue.name, prefetch=self._prefetch)

    async def close(self, grace_period: float = 30.0) -> None:
        """Stop consuming, wait up to ``grace_period`` seconds for in-flight deliveries to be settled
        (a failed one waiting to be retried is requeued at once), then close the channel.
        Unsettled deliveries return to the queue. Idempotent."""
        channel, self._channel = self._channel, None
        if channel is None:
            return
        self._closing.set()
        tag, self._consumer_tag = self._consumer_tag, None
        if self._amqp_queue is not None and tag is not None:
            # Bounded: on a robust channel cancel waits for a connection that may not come back.
            with contextlib.suppress(TimeoutError, *CONNECTION_EXCEPTIONS):
                async with asyncio.timeout(_BROKER_CALL_TIMEOUT_S):
                    await self._amqp_queue.cancel(tag)
        try:
            await asyncio.wait_for(self._idle.wait(), grace_period)
        except TimeoutError:
            _log.warning(
                "event_consumer_close_timeout", queue=self.queue.name, in_flight=self._in_flight
            )
        for task in self._reattach_tasks:
            task.cancel()
        with contextlib.suppress(TimeoutError, *CONNECTION_EXCEPTIONS):
            async with asyncio.timeout(_BROKER_CALL_TIMEOUT_S):
                await channel.close()
        await self._dead_letters.close()
        _log.info("event_consumer_closed", queue=self.queue.name)

    async def _on_reopen(self, channel: AbstractRobustChannel | None) -> None:
        if channel is None:
            return
        self._underlay = await channel.get_underlay_channel()
        if self.queue.exclusive:
            self._classic_failures.clear()  # the old queue and its messages died with the connection
        _log.info("event_consumer_reattached", queue=self.queue.name)
        if self._on_reattach is not None:
            task = asyncio.create_task(self._run_on_reattach(self._on_reattach))
            self._reattach_tasks.add(task)
            task.add_done_callback(self._reattach_tasks.discard)

    async def _run_on_reattach(self, on_reattach: Callable[[], Awaitable[None]]) -> None:
        try:
            await on_reattach()
        except Exception:
            _log.exception("event_consumer_on_reattach_failed", queue=self.queue.name)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._in_flight += 1
        self._idle.clear()
        try:
            await self._handle(message)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        try:
            event = parse(message.body)
        except InvalidEventError as exc:
            await self._dead_letter(message, DeathReason.INVALID_ENVELOPE, str(exc), deliveries=1)
            return
        traceparent = _header(message, "traceparent") or event.traceparent
        with (
            consuming(event.name, traceparent, request_id=event.requestid),
            structlog.contextvars.bound_contextvars(**_log_context(event)),
        ):
            await self._handle_event(message, event)

    async def _handle_event(self, message: AbstractIncomingMessage, event: CloudEvent) -> None:
        if event.name not in self._processor.event_names:
            detail = f"{event.name} reached {self.queue.name}, whose consumer does not handle it"
            await self._dead_letter(message, DeathReason.UNHANDLED_EVENT, detail, deliveries=1)
            return
        try:
            EVENTS[event.name].payload.model_validate(event.data)
        except ValidationError as exc:
            detail = f"data of {event.name} does not match its schema: {_errors(exc)}"
            await self._dead_letter(message, DeathReason.INVALID_PAYLOAD, detail, deliveries=1)
            return
        try:
            applied = await self._process_while_database_answers(event)
        except Exception as exc:
            _log.exception(
                "event_handler_failed",
                queue=self.queue.name,
                failed_deliveries=self._failed_deliveries(message, event) + 1,
                delivery_limit=self.queue.delivery_limit,
            )
            await self._retry_or_dead_letter(message, event, exc)
            return
        self._classic_failures.pop(event.id, None)
        _log.debug(
            "event_processed" if applied else "event_duplicate_skipped", queue=self.queue.name
        )
        await self._settle(self._policy.processed(message))

    async def _process_while_database_answers(self, event: CloudEvent) -> bool:
        """Process `event`; while the database is unreachable, or its transaction keeps meeting
        a conflicting one (e.g. one an outage cut off, held until the server reaps it), hold
        the message and try again (with the retry delays) instead of spending a delivery on it:
        an outage longer than the deliveries allowed must not dead-letter good events. One
        warning when it starts waiting, one line when it goes on. Gives up (raises) only when
        the consumer closes."""
        waits = 0
        while True:
            try:
                async with asyncio.timeout(self._handler_timeout):
                    applied = await self._processor.process(event)
            except Exception as exc:
                waiting = database_unavailable(exc) or transaction_contended(exc)
                if not waiting or self._closing.is_set():
                    raise
                waits += 1
                if waits == 1:
                    _log.warning(
                        "event_handler_waiting_for_database", queue=self.queue.name, error=repr(exc)
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self._policy.retry_delay(waits))
                continue
            if waits:
                _log.info("event_handler_database_back", queue=self.queue.name, attempts=waits + 1)
            return applied

    async def _retry_or_dead_letter(
        self, message: AbstractIncomingMessage, event: CloudEvent, error: Exception
    ) -> None:
        failed = self._failed_deliveries(message, event) + 1
        limit = self.queue.delivery_limit
        # Past the limit a quorum queue would dead-letter it on this reject, without the error:
        # dead-letter it here first, with the error. Same count (x-delivery-count), same point.
        if limit is not None and failed > limit:
            self._classic_failures.pop(event.id, None)
            detail = f"the handler failed {failed} times; last error: {error!r}"
            await self._dead_letter(message, DeathReason.HANDLER_FAILED, detail, deliveries=failed)
            return
        if self.queue.queue_type is QueueType.CLASSIC:
            self._classic_failures[event.id] = failed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), self._policy.retry_delay(failed))
        await self._settle(self._policy.retry(message))

    async def _dead_letter(
        self,
        message: AbstractIncomingMessage,
        reason: DeathReason,
        detail: str,
        *,
        deliveries: int,
    ) -> None:
        """Move ``message`` to the dead-letter queue with ``reason``; the next message is not
        held up. Confirm before ack: a crash in between leaves a second copy, never none."""
        _log.error(
            "event_dead_lettered",
            queue=self.queue.name,
            message_id=message.message_id,
            routing_key=message.routing_key,
            reason=reason.value,
            detail=detail,
        )
        EVENTS_DEAD_LETTERED.labels(self.queue.name, reason.value).inc()
        dead_letter = self.queue.dead_letter
        if dead_letter is None:
            await self._settle(self._policy.dead_letter(message))
            return
        copy = dead_letter_copy(
            message, queue=self.queue.name, reason=reason, detail=detail, deliveries=deliveries
        )
        try:
            await self._dead_letters.publish(
                copy, exchange=dead_letter.exchange, routing_key=dead_letter.routing_keys[0]
            )
        except MessageNotConfirmed as exc:
            _log.warning("event_dead_letter_reason_lost", queue=self.queue.name, error=str(exc))
            await self._settle(self._policy.dead_letter(message))
            return
        await self._settle(self._policy.dead_lettered(message))

    def _failed_deliveries(self, message: AbstractIncomingMessage, event: CloudEvent) -> int:
        """Failed deliveries before this one: the quorum queue's count, or our own for classic."""
        if self.queue.queue_type is QueueType.CLASSIC:
            return self._classic_failures.get(event.id, 0)
        count = (message.headers or {}).get("x-delivery-count", 0)
        return count if isinstance(count, int) else 0

    async def _settle(self, settling: Awaitable[None]) -> None:
        try:
            await settling
        except CONNECTION_EXCEPTIONS as exc:
            # The channel is gone: the broker has already returned the delivery to the queue.
            _log.warning("event_settle_failed", queue=self.queue.name, error=repr(exc))


def _errors(exc: ValidationError) -> str:
    """Pydantic's errors as ``data.field: message; ...`` (no input values: they may be personal)."""
    return "; ".join(
        f"data.{'.'.join(map(str, error['loc'])) or '(root)'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    )


def _log_context(event: CloudEvent) -> dict[str, str]:
    context = {"event_id": event.id, "event_name": event.name}
    if event.requestid is not None:
        context["request_id"] = event.requestid
    return context


def _header(message: AbstractIncomingMessage, name: str) -> str | None:
    value = (message.headers or {}).get(name)
    return value if isinstance(value, str) else None
