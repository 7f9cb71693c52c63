"""Topology declarations: self-validation (unit) and idempotent declaration on RabbitMQ."""

from __future__ import annotations

import aio_pika
import pytest
from events_scratch import Scratch

from nocturnal.shared.events.topology import (
    ExchangeSpec,
    QueueSpec,
    QueueType,
    TopologyError,
    dead_letter_queue,
    declare,
    instance_queue,
    service_queue,
)

EXCHANGE = ExchangeSpec()


def test_default_exchange_and_its_dead_letter_exchange() -> None:
    assert EXCHANGE.name == "nocturnal.events"
    assert EXCHANGE.dead_letter_exchange == "nocturnal.events.dlx"


def test_service_queue_is_a_durable_quorum_queue_with_delivery_limit_and_dlx() -> None:
    queue = service_queue(EXCHANGE, "api", ["user.registered", "file.uploaded"], delivery_limit=7)

    assert queue.name == "nocturnal.events.api"
    assert queue.exchange == "nocturnal.events"
    assert queue.routing_keys == ("user.registered", "file.uploaded")
    assert queue.queue_type is QueueType.QUORUM
    assert queue.durable and not queue.exclusive and not queue.auto_delete
    assert queue.arguments() == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 7,
        "x-dead-letter-exchange": "nocturnal.events.dlx",
        "x-dead-letter-routing-key": "nocturnal.events.api",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert queue.dead_letter == dead_letter_queue(EXCHANGE, "api")


def test_dead_letter_queue_is_bound_to_the_dlx_by_the_service_queue_name() -> None:
    dlq = dead_letter_queue(EXCHANGE, "api")

    assert dlq.name == "nocturnal.events.api.dlq"
    assert dlq.exchange == "nocturnal.events.dlx"
    assert dlq.routing_keys == ("nocturnal.events.api",)
    assert dlq.queue_type is QueueType.QUORUM
    assert dlq.arguments() == {"x-queue-type": "quorum"}


def test_instance_queue_is_exclusive_auto_delete_classic_and_unique() -> None:
    first = instance_queue(EXCHANGE, "api", "api-7f9", ["auth.tokens_revoked"])
    second = instance_queue(EXCHANGE, "api", "api-7f9", ["auth.tokens_revoked"])

    assert first.name.startswith("nocturnal.events.api.api-7f9.")
    assert first.name != second.name
    assert first.queue_type is QueueType.CLASSIC
    assert first.exclusive and first.auto_delete and not first.durable
    assert "x-delivery-limit" not in first.arguments()
    assert first.arguments()["x-dead-letter-routing-key"] == "nocturnal.events.api"


def test_quorum_implies_durable() -> None:
    with pytest.raises(TopologyError, match="durable"):
        QueueSpec("q", "x", ("a.b",), durable=False, delivery_limit=None)


@pytest.mark.parametrize("flag", ["exclusive", "auto_delete"])
def test_quorum_queues_cannot_be_exclusive_or_auto_delete(flag: str) -> None:
    with pytest.raises(TopologyError):
        QueueSpec("q", "x", ("a.b",), delivery_limit=None, **{flag: True})


def test_a_delivery_limit_needs_a_dead_letter_queue() -> None:
    with pytest.raises(TopologyError, match="dead-letter"):
        QueueSpec("q", "x", ("a.b",), delivery_limit=3)


def test_a_dead_letter_queue_has_exactly_one_routing_key() -> None:
    dlq = QueueSpec("q.dlq", "x.dlx", ("a", "b"), delivery_limit=None)
    with pytest.raises(TopologyError, match="exactly one"):
        QueueSpec("q", "x", ("a.b",), dead_letter=dlq)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": ""},
        {"name": "amq.mine"},
        {"name": "q" * 256},
        {"exchange": ""},
        {"routing_keys": ()},
        {"routing_keys": ("",)},
    ],
)
def test_malformed_queue_specs_are_refused(kwargs: dict[str, object]) -> None:
    spec: dict[str, object] = {
        "name": "q",
        "exchange": "x",
        "routing_keys": ("a.b",),
        "delivery_limit": None,
    }
    spec.update(kwargs)
    with pytest.raises(TopologyError):
        QueueSpec(**spec)


def test_reserved_exchange_names_are_refused() -> None:
    with pytest.raises(TopologyError):
        ExchangeSpec("amq.topic")


async def test_declare_is_idempotent_and_routes_by_event_name(scratch: Scratch) -> None:
    queue = scratch.service_queue("api", ["user.registered"])

    await scratch.declare(queue)
    await scratch.declare(queue)
    await scratch.publish_raw(b"hello", routing_key="user.registered")
    await scratch.publish_raw(b"other", routing_key="user.deleted")

    message = await scratch.get(queue.name)
    assert message.body == b"hello"
    assert await scratch.get_or_none(queue.name) is None


async def test_declare_refuses_a_queue_bound_to_another_exchange(scratch: Scratch) -> None:
    stranger = QueueSpec("q", "elsewhere", ("a.b",), delivery_limit=None)
    async with scratch.connection.channel() as channel:
        with pytest.raises(TopologyError, match="unknown exchange"):
            await declare(channel, scratch.exchange, stranger)


async def test_declared_queue_dead_letters_rejected_messages(scratch: Scratch) -> None:
    queue = scratch.service_queue("api", ["user.registered"])
    await scratch.declare(queue)
    await scratch.publish_raw(b"poison", routing_key="user.registered")

    async with scratch.connection.channel() as channel:
        amqp_queue = await channel.get_queue(queue.name, ensure=False)
        message = await amqp_queue.get(timeout=5)
        await message.reject(requeue=False)

    assert queue.dead_letter is not None
    dead = await scratch.get(queue.dead_letter.name)
    assert dead.body == b"poison"
    assert dead.headers["x-first-death-reason"] == "rejected"


async def test_redeclaring_with_other_arguments_fails_loudly(scratch: Scratch) -> None:
    await scratch.declare(scratch.service_queue("api", ["user.registered"], delivery_limit=3))

    with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
        await scratch.declare(scratch.service_queue("api", ["user.registered"], delivery_limit=4))


def test_the_catalogue_binds_every_consumed_event_and_audits_security_decisions() -> None:
    from nocturnal.shared.events.catalogue import AUDITED, SUBSCRIPTIONS, catalogue_queues

    exchange = ExchangeSpec("test.catalogue")
    queues = {q.name: q for q in catalogue_queues(exchange)}
    assert set(queues["test.catalogue.api"].routing_keys) == set(SUBSCRIPTIONS["api"])
    assert queues["test.catalogue.upload"].routing_keys == ("user.deleted",)
    audit = queues["test.catalogue.audit"]
    assert audit.routing_keys == AUDITED
    assert audit.arguments()["x-overflow"] == "drop-head"
    assert audit.dead_letter is None


def test_a_length_cap_with_dead_lettering_is_refused() -> None:
    exchange = ExchangeSpec("test.capped")
    with pytest.raises(TopologyError, match="length cap"):
        QueueSpec(
            name="q",
            exchange=exchange.name,
            routing_keys=("a",),
            dead_letter=dead_letter_queue(exchange, "svc"),
            max_length=10,
        )
