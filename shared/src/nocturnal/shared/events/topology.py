"""RabbitMQ topology declarations: the event exchange, per-service quorum queues, dead-lettering."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from aio_pika import ExchangeType
from aio_pika.abc import AbstractChannel, AbstractQueue

__all__ = [
    "DEFAULT_DELIVERY_LIMIT",
    "DEFAULT_EXCHANGE",
    "ExchangeSpec",
    "QueueSpec",
    "QueueType",
    "TopologyError",
    "audit_queue",
    "dead_letter_queue",
    "declare",
    "instance_queue",
    "service_queue",
]

DEFAULT_EXCHANGE: Final = "nocturnal.events"
DEFAULT_DELIVERY_LIMIT: Final = 5
"""Redeliveries after the first delivery before a failing message is dead-lettered."""

_MAX_NAME_BYTES: Final = 255  # AMQP 0-9-1 shortstr


class TopologyError(ValueError):
    """A declaration contradicts itself or RabbitMQ's rules (e.g. a quorum queue that is not durable)."""


class QueueType(StrEnum):
    """RabbitMQ queue types (``x-queue-type``)."""

    QUORUM = "quorum"
    CLASSIC = "classic"


@dataclass(frozen=True)
class ExchangeSpec:
    """The durable topic exchange events are published to, and its dead-letter exchange.

    ``name`` defaults to ``nocturnal.events``; tests use unique names. The dead-letter exchange
    ``<name>.dlx`` is a durable direct exchange; each service's dead-letter queue is bound to it
    with the service queue's name as routing key.

    Raises:
        TopologyError: the name is empty, reserved (``amq.``) or longer than 255 bytes.
    """

    name: str = DEFAULT_EXCHANGE

    def __post_init__(self) -> None:
        _check_name("exchange", self.name)

    @property
    def dead_letter_exchange(self) -> str:
        """Name of the dead-letter exchange: ``<name>.dlx``."""
        return f"{self.name}.dlx"


@dataclass(frozen=True)
class QueueSpec:
    """A queue, the exchange it binds to with which routing keys, and where its rejects go.

    ``exchange`` is the name of the exchange the queue is bound to (the event exchange, or the
    dead-letter exchange for a dead-letter queue). ``delivery_limit`` counts redeliveries after
    the first delivery: quorum queues enforce it in the broker (``x-delivery-limit``); for classic
    queues the consumer enforces it. ``dead_letter`` is the queue rejected and over-limit
    messages end up in, reached through its own ``exchange`` with its single routing key.

    Self-validating, in the spirit of FastStream's declarations:

    - a quorum queue is durable, neither exclusive nor auto-delete;
    - an exclusive queue is a classic queue;
    - a delivery limit needs a dead-letter queue (otherwise RabbitMQ drops the message);
    - a dead-letter queue has exactly one routing key and no dead-letter queue of its own.

    Raises:
        TopologyError: any of the rules above is broken, names are empty, reserved or too long,
            or there is no routing key.
    """

    name: str
    exchange: str
    routing_keys: tuple[str, ...]
    queue_type: QueueType = QueueType.QUORUM
    durable: bool = True
    exclusive: bool = False
    auto_delete: bool = False
    delivery_limit: int | None = DEFAULT_DELIVERY_LIMIT
    dead_letter: QueueSpec | None = None
    max_length: int | None = None

    def __post_init__(self) -> None:
        _check_name("queue", self.name)
        _check_name("exchange", self.exchange)
        if not self.routing_keys:
            raise TopologyError(f"queue {self.name!r} has no routing key")
        for key in self.routing_keys:
            if not key or len(key.encode()) > _MAX_NAME_BYTES:
                raise TopologyError(f"queue {self.name!r}: invalid routing key {key!r}")
        if self.queue_type is QueueType.QUORUM and not self.durable:
            raise TopologyError(f"quorum queue {self.name!r} must be durable")
        if self.queue_type is QueueType.QUORUM and (self.exclusive or self.auto_delete):
            raise TopologyError(f"quorum queue {self.name!r} cannot be exclusive or auto-delete")
        if self.delivery_limit is not None and self.delivery_limit < 0:
            raise TopologyError(f"queue {self.name!r}: delivery limit must be >= 0")
        if self.delivery_limit is not None and self.dead_letter is None:
            raise TopologyError(
                f"queue {self.name!r}: a delivery limit without a dead-letter queue drops messages"
            )
        if self.dead_letter is not None:
            _check_dead_letter_queue(self.name, self.dead_letter)
        if self.max_length is not None and (self.max_length < 1 or self.dead_letter is not None):
            raise TopologyError(
                f"queue {self.name!r}: a length cap drops the oldest messages, so it is only"
                " for queues without dead-lettering (audit trails)"
            )

    @property
    def dead_letter_routing_key(self) -> str | None:
        """Routing key rejected messages are republished with to the dead-letter exchange."""
        return None if self.dead_letter is None else self.dead_letter.routing_keys[0]

    def arguments(self) -> dict[str, Any]:
        """The ``x-`` arguments of ``queue.declare`` for this queue.

        Dead-lettering from a quorum queue is ``at-least-once`` (RabbitMQ ≥ 3.10), which requires
        ``x-overflow: reject-publish``: a dead-lettered message stays in the source queue until
        the dead-letter queue has confirmed it, so nothing is lost on the way.
        """
        args: dict[str, Any] = {"x-queue-type": self.queue_type.value}
        if self.queue_type is QueueType.QUORUM and self.delivery_limit is not None:
            args["x-delivery-limit"] = self.delivery_limit
        if self.max_length is not None:
            args["x-max-length"] = self.max_length
            args["x-overflow"] = "drop-head"
        if self.dead_letter is not None:
            args["x-dead-letter-exchange"] = self.dead_letter.exchange
            args["x-dead-letter-routing-key"] = self.dead_letter_routing_key
            if self.queue_type is QueueType.QUORUM:
                args["x-dead-letter-strategy"] = "at-least-once"
                args["x-overflow"] = "reject-publish"
        return args


def dead_letter_queue(exchange: ExchangeSpec, service: str) -> QueueSpec:
    """The durable quorum dead-letter queue ``<exchange>.<service>.dlq`` of ``service``.

    Bound to ``<exchange>.dlx`` with routing key ``<exchange>.<service>``; the original routing
    key (the event name) is kept in the message's ``x-death`` header.
    """
    return QueueSpec(
        name=f"{exchange.name}.{service}.dlq",
        exchange=exchange.dead_letter_exchange,
        routing_keys=(f"{exchange.name}.{service}",),
        delivery_limit=None,
    )


def service_queue(
    exchange: ExchangeSpec,
    service: str,
    routing_keys: Iterable[str],
    *,
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
) -> QueueSpec:
    """The durable quorum queue ``<exchange>.<service>`` shared by all instances of ``service``.

    Each event is delivered to one instance. ``routing_keys`` are event names (the routing key is
    the event name). After ``delivery_limit`` redeliveries a failing message is dead-lettered to
    :func:`dead_letter_queue`.

    Raises:
        TopologyError: see :class:`QueueSpec`.
    """
    return QueueSpec(
        name=f"{exchange.name}.{service}",
        exchange=exchange.name,
        routing_keys=tuple(routing_keys),
        delivery_limit=delivery_limit,
        dead_letter=dead_letter_queue(exchange, service),
    )


def audit_queue(
    exchange: ExchangeSpec, routing_keys: Iterable[str], *, max_length: int = 100_000
) -> QueueSpec:
    """The durable quorum queue ``<exchange>.audit``: a bounded trail of ``routing_keys``.

    Nobody consumes it in the platform; ops read it. It keeps the newest ``max_length``
    messages (``x-overflow: drop-head``).

    Raises:
        TopologyError: see :class:`QueueSpec`.
    """
    return QueueSpec(
        name=f"{exchange.name}.audit",
        exchange=exchange.name,
        routing_keys=tuple(routing_keys),
        delivery_limit=None,
        max_length=max_length,
    )


def instance_queue(
    exchange: ExchangeSpec,
    service: str,
    instance: str,
    routing_keys: Iterable[str],
    *,
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
) -> QueueSpec:
    """A fan-out queue of one process: every instance sees every event (``auth.tokens_revoked``).

    Classic, exclusive and auto-delete: it lives as long as the process's connection, so state
    built from it must be in memory (and reloaded at start). The name
    ``<exchange>.<service>.<instance>.<random>`` is unique per call, so two processes sharing a
    host name never collide. Rejected messages go to the service's dead-letter queue.

    Raises:
        TopologyError: see :class:`QueueSpec`.
    """
    return QueueSpec(
        name=f"{exchange.name}.{service}.{instance}.{uuid.uuid4().hex[:8]}",
        exchange=exchange.name,
        routing_keys=tuple(routing_keys),
        queue_type=QueueType.CLASSIC,
        durable=False,
        exclusive=True,
        auto_delete=True,
        delivery_limit=delivery_limit,
        dead_letter=dead_letter_queue(exchange, service),
    )


async def declare(
    channel: AbstractChannel, exchange: ExchangeSpec, *queues: QueueSpec
) -> dict[str, AbstractQueue]:
    """Declare the exchange, its dead-letter exchange, ``queues`` (with their dead-letter queues)
    and their bindings. Idempotent: redeclaring identical entities is a no-op in RabbitMQ.

    On a robust channel the declarations are replayed after a reconnect. Returns the declared
    queues by name (dead-letter queues included).

    Raises:
        TopologyError: a queue binds to an exchange other than ``exchange`` or its DLX.
        aio_pika.exceptions.ChannelPreconditionFailed: an entity already exists with other
            arguments (change those with a RabbitMQ policy, or delete and redeclare).
    """
    known = {exchange.name, exchange.dead_letter_exchange}
    for queue in queues:
        for spec in _with_dead_letters(queue):
            if spec.exchange not in known:
                raise TopologyError(
                    f"queue {spec.name!r} binds to unknown exchange {spec.exchange!r}"
                )
    await channel.declare_exchange(exchange.name, ExchangeType.TOPIC, durable=True)
    await channel.declare_exchange(exchange.dead_letter_exchange, ExchangeType.DIRECT, durable=True)
    declared: dict[str, AbstractQueue] = {}
    for queue in queues:
        for spec in reversed(_with_dead_letters(queue)):
            if spec.name not in declared:
                declared[spec.name] = await _declare_queue(channel, spec)
    return declared


async def _declare_queue(channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
    queue = await channel.declare_queue(
        spec.name,
        durable=spec.durable,
        exclusive=spec.exclusive,
        auto_delete=spec.auto_delete,
        arguments=spec.arguments(),
    )
    for key in spec.routing_keys:
        await queue.bind(spec.exchange, key)
    return queue


def _with_dead_letters(queue: QueueSpec) -> list[QueueSpec]:
    chain = [queue]
    if queue.dead_letter is not None:
        chain.append(queue.dead_letter)
    return chain


def _check_dead_letter_queue(owner: str, dead_letter: QueueSpec) -> None:
    if len(dead_letter.routing_keys) != 1:
        raise TopologyError(f"dead-letter queue of {owner!r} needs exactly one routing key")
    if dead_letter.dead_letter is not None:
        raise TopologyError(f"dead-letter queue of {owner!r} cannot dead-letter again")


def _check_name(kind: str, name: str) -> None:
    if not name or len(name.encode()) > _MAX_NAME_BYTES:
        raise TopologyError(f"invalid {kind} name {name!r}")
    if name.startswith("amq."):
        raise TopologyError(f"{kind} name {name!r} uses the reserved 'amq.' prefix")
