"""One service's messaging wired together: connection, publisher, outbox relay and consumers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import aio_pika
import structlog
from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.events.catalogue import SUBSCRIPTIONS, catalogue_queues
from nocturnal.shared.events.connection_log import BrokerConnectionLog, quiet_broker_client_logs
from nocturnal.shared.events.consumer import (
    ACK_POLICY,
    AckPolicy,
    DirectHandler,
    DirectProcessor,
    EventConsumer,
    EventProcessor,
    Handler,
    Inbox,
    InboxProcessor,
)
from nocturnal.shared.events.envelope import CloudEvent, new_event
from nocturnal.shared.events.outbox import Outbox, OutboxRelay
from nocturnal.shared.events.publisher import EventPublisher
from nocturnal.shared.events.topology import (
    DEFAULT_DELIVERY_LIMIT,
    ExchangeSpec,
    QueueSpec,
    dead_letter_queue,
    declare,
    instance_queue,
    service_queue,
)
from nocturnal.shared.metrics import (
    EVENTS_CONSUMER_ATTACHED,
    EVENTS_DEAD_LETTER_DEPTH,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PENDING,
)

__all__ = ["EventBus"]

_CLOSE_SHARE = 0.4
"""Share of SHUTDOWN_TIMEOUT_S for closing the bus (after in-flight requests had theirs)."""

Reattach = Callable[[], Awaitable[None]]

_log = structlog.get_logger(__name__)


class EventBus:
    """Everything a service needs for events, opened and closed as one async context manager.

    Register consumers first, then enter the context (e.g. in an aiohttp cleanup context)::

        bus = EventBus(amqp_url, service="api", instance=hostname, db=db)
        bus.subscribe({"user.registered": create_profile})          # durable queue + inbox
        bus.subscribe_fan_out({"auth.tokens_revoked": revocations.apply})  # every instance
        async with bus:
            ...   # bus.outbox.add(bus.event(...), session=s); after commit bus.notify()

    Entering connects (robust, fail fast), declares the exchange and the whole event catalogue
    (every service's queue, so events route before their consumers first start; a queue this
    process consumes is declared by its consumer alone), creates the outbox/inbox indexes,
    opens the publisher, starts the consumers, then the outbox relay. Leaving drains in
    the order of a graceful shutdown: consumers stop and finish in-flight messages, the outbox
    is flushed, the relay stops, the connection closes. Without ``db`` there is no outbox
    (publish with ``bus.publisher.publish_confirmed``) and no inbox (use :meth:`subscribe_direct`).

    Args:
        amqp_url: ``amqp://user:pass@host:port/vhost``.
        service: service name (``/services/<service>`` source, queue ``<exchange>.<service>``).
        instance: this process's name (pod/host name), for fan-out queues and the connection name.
        db: the service's database (``outbox`` and ``inbox`` collections), or None.
        exchange: the event exchange (default ``nocturnal.events``).
        confirm_timeout: seconds for each publish and its confirm.
        prefetch: unacknowledged deliveries per consumer.
        delivery_limit: redeliveries of a failing message before it is dead-lettered.
        flush_timeout: seconds to publish what is pending in the outbox when closing.
        connect_timeout: seconds for the first connection attempt.
        close_timeout: seconds that closing may take in all: in-flight handlers, the relay's
            entry in hand and the flush share it (what is left unsettled returns to the queue,
            what is left unpublished stays in the outbox for another relay).
    """

    def __init__(
        self,
        amqp_url: str,
        *,
        service: str,
        instance: str,
        db: AsyncDatabase[Any] | None,
        exchange: ExchangeSpec | None = None,
        confirm_timeout: float = 5.0,
        prefetch: int = 16,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        policy: AckPolicy = ACK_POLICY,
        flush_timeout: float = 5.0,
        connect_timeout: float = 10.0,
        close_timeout: float = 30.0,
    ) -> None:
        self.service = service
        self.instance = instance
        self.exchange = exchange or ExchangeSpec()
        self._amqp_url = amqp_url
        self._db = db
        self._confirm_timeout = confirm_timeout
        self._prefetch = prefetch
        self._delivery_limit = delivery_limit
        self._policy = policy
        self._flush_timeout = flush_timeout
        self._connect_timeout = connect_timeout
        self._close_timeout = close_timeout
        self._pending: list[tuple[QueueSpec, EventProcessor, Reattach | None]] = []
        self._has_service_queue = False
        self._connection: AbstractRobustConnection | None = None
        self._connection_log: BrokerConnectionLog | None = None
        self._publisher: EventPublisher | None = None
        self._relay: OutboxRelay | None = None
        self.consumers: list[EventConsumer] = []

    @classmethod
    def for_service(
        cls, settings: ServiceSettings, *, service: str, db: AsyncDatabase[Any] | None
    ) -> EventBus:
        """The bus of one service process, configured from its settings (`AMQP_URL`,
        `EVENTS_EXCHANGE`, `INSTANCE_NAME`); closing it takes at most 40 % of
        `SHUTDOWN_TIMEOUT_S` (the part of the shutdown after in-flight requests)."""
        return cls(
            settings.amqp_url,
            service=service,
            instance=settings.instance_name,
            db=db,
            exchange=ExchangeSpec(settings.events_exchange),
            close_timeout=settings.shutdown_timeout_s * _CLOSE_SHARE,
        )

    def subscribe(self, handlers: Mapping[str, Handler]) -> None:
        """Consume ``handlers``' events from the service's durable quorum queue, each event once
        per service, deduplicated by the inbox in the handler's transaction.

        Raises:
            ValueError: no ``db``, or the service queue is already subscribed.
            RuntimeError: the bus is already open.
        """
        if self._db is None:
            raise ValueError("subscribe needs a database for the inbox; use subscribe_direct")
        db = self._db
        self._add_service_queue(handlers, InboxProcessor(db, handlers, on_commit=self.notify))

    def subscribe_direct(self, handlers: Mapping[str, DirectHandler]) -> None:
        """Consume from the service's durable quorum queue without inbox: for services without
        MongoDB whose handlers are idempotent by themselves.

        Raises:
            ValueError: the service queue is already subscribed.
            RuntimeError: the bus is already open.
        """
        self._add_service_queue(handlers, DirectProcessor(handlers))

    def subscribe_fan_out(
        self,
        handlers: Mapping[str, DirectHandler],
        *,
        on_reattach: Reattach | None = None,
    ) -> None:
        """Consume ``handlers``' events on a queue of this instance alone: every instance sees
        every event. Handlers keep in-memory state (loaded at start), no inbox. The queue dies
        with the connection, so ``on_reattach`` is awaited after each reconnect to reload what
        the gap may have missed.

        Raises:
            RuntimeError: the bus is already open.
        """
        self._require_closed()
        queue = instance_queue(
            self.exchange,
            self.service,
            self.instance,
            sorted(handlers),
            delivery_limit=self._delivery_limit,
        )
        self._pending.append((queue, DirectProcessor(handlers), on_reattach))

    @property
    def publisher(self) -> EventPublisher:
        """The confirmed publisher (opened on enter).

        Raises:
            RuntimeError: the bus is not open.
        """
        if self._publisher is None:
            raise RuntimeError("EventBus is not open")
        return self._publisher

    @property
    def outbox(self) -> Outbox:
        """The transactional outbox: ``await bus.outbox.add(event, session=session)``.

        Raises:
            RuntimeError: the bus is not open or has no database.
        """
        return self._require_relay().outbox

    @property
    def attached(self) -> bool:
        """Readiness: the bus is open and every consumer is attached.

        A bus without consumers stays ready while the broker is away: its events wait in the
        outbox, so requests can still be served.
        """
        connection = self._connection
        if connection is None or connection.is_closed:
            return False
        return all(consumer.attached for consumer in self.consumers)

    async def ready(self) -> bool:
        """`attached`, as a readiness check (`app[READINESS].add(EVENT_BUS_CHECK, bus.ready)`)."""
        return self.attached

    async def sample_metrics(self) -> None:
        """Update the event metrics of this process (a `MetricsSampler`, run on each scrape):
        each consumer attached or not, the outbox's backlog (entries and the oldest one's age),
        and the depth of the service's dead-letter queue when it consumes anything.

        Raises:
            PyMongoError, AMQPError, OSError: the database or the broker did not answer (the
                metrics sampled before it are updated).
        """
        for consumer in self.consumers:
            EVENTS_CONSUMER_ATTACHED.labels(self.service, consumer.queue.name).set(
                consumer.attached
            )
        if self._relay is not None:
            pending, oldest = await self._relay.outbox.backlog()
            age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
            OUTBOX_PENDING.labels(self.service).set(pending)
            OUTBOX_OLDEST_AGE.labels(self.service).set(max(age, 0.0))
        connection = self._connection
        if self.consumers and connection is not None and not connection.is_closed:
            name = dead_letter_queue(self.exchange, self.service).name
            async with connection.channel(publisher_confirms=False) as channel:
                queue = await channel.declare_queue(name, passive=True)
            depth = queue.declaration_result.message_count
            EVENTS_DEAD_LETTER_DEPTH.labels(self.service, name).set(depth or 0)

    def event(self, name: str, data: dict[str, Any], *, subject: str | None = None) -> CloudEvent:
        """A new event of this service (see :func:`new_event`)."""
        return new_event(name, data, service=self.service, subject=subject)

    def notify(self) -> None:
        """Wake the outbox relay (call after committing a transaction that added an event)."""
        if self._relay is not None:
            self._relay.notify()

    async def __aenter__(self) -> Self:
        try:
            await self._open()
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    async def _open(self) -> None:
        connection = await aio_pika.connect_robust(
            self._amqp_url,
            timeout=self._connect_timeout,
            client_properties={"connection_name": f"{self.service}/{self.instance}"},
        )
        self._connection = connection
        quiet_broker_client_logs()
        self._connection_log = BrokerConnectionLog(connection, f"{self.service}/{self.instance}")
        # A queue this process consumes is declared once, by its consumer (on the robust
        # channel that redeclares it after a reconnect); the rest of the catalogue here.
        consumed = {queue.name for queue, _, _ in self._pending}
        catalogue = catalogue_queues(self.exchange, delivery_limit=self._delivery_limit)
        async with connection.channel(publisher_confirms=False) as channel:
            await declare(channel, self.exchange, *(q for q in catalogue if q.name not in consumed))
        self._publisher = EventPublisher(
            connection, self.exchange, confirm_timeout=self._confirm_timeout
        )
        await self._publisher.open()
        if self._db is not None:
            await Inbox(self._db).ensure_indexes()
            self._relay = OutboxRelay(self._db, self._publisher)
            await self._relay.ensure_indexes()
        await self._start_consumers(connection)
        # After the consumers: the relay's first events then route to this service's queue too.
        if self._relay is not None:
            await self._relay.start()
        _log.info("event_bus_open", service=self.service, consumers=len(self.consumers))

    async def _start_consumers(self, connection: AbstractRobustConnection) -> None:
        for queue, processor, on_reattach in self._pending:
            consumer = EventConsumer(
                connection,
                self.exchange,
                queue,
                processor,
                prefetch=self._prefetch,
                policy=self._policy,
                on_reattach=on_reattach,
            )
            self.consumers.append(consumer)
            await consumer.start()

    async def _close(self) -> None:
        if self._connection_log is not None:
            self._connection_log.closing()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._close_timeout

        def left() -> float:
            return max(deadline - loop.time(), 0.0)

        # Together: each stops taking deliveries at once, then waits for its in-flight ones.
        await asyncio.gather(*(consumer.close(grace_period=left()) for consumer in self.consumers))
        self.consumers.clear()
        relay, self._relay = self._relay, None
        if relay is not None:
            await relay.stop(grace_period=left())
            if not await relay.flush(min(self._flush_timeout, left())):
                _log.warning("event_bus_outbox_not_flushed", service=self.service)
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            await publisher.close()
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await connection.close()

    def _add_service_queue(self, handlers: Mapping[str, Any], processor: EventProcessor) -> None:
        self._require_closed()
        if self._has_service_queue:
            raise ValueError(f"service {self.service!r} already has its queue subscribed")
        expected = SUBSCRIPTIONS.get(self.service)
        if expected is not None and set(handlers) != set(expected):
            raise ValueError(
                f"{self.service!r} handlers {sorted(handlers)} differ from its catalogue entry"
                f" {sorted(expected)} (nocturnal.shared.events.catalogue)"
            )
        self._has_service_queue = True
        queue = service_queue(
            self.exchange, self.service, sorted(handlers), delivery_limit=self._delivery_limit
        )
        self._pending.append((queue, processor, None))

    def _require_closed(self) -> None:
        if self._connection is not None:
            raise RuntimeError("subscribe before opening the EventBus")

    def _require_relay(self) -> OutboxRelay:
        if self._relay is None:
            raise RuntimeError("EventBus is not open or has no database (no outbox)")
        return self._relay
