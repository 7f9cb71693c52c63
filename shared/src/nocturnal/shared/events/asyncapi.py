"""The AsyncAPI 3.0 document of Nocturnal's events, generated from the catalogue, the payload
models, the envelope model and the topology declarations (never kept by hand).

One channel per routing key on the topic exchange, with a ``send`` operation of its publisher and
a ``receive`` operation of each consumer; one channel per durable queue and dead-letter queue with
its AMQP binding; each message's payload is the CloudEvents 1.0 structured-mode envelope with
``type``, ``source`` and ``data`` fixed to the event's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from pydantic.json_schema import models_json_schema

from nocturnal.shared.event_payloads import EventPayload
from nocturnal.shared.events.catalogue import EVENTS, EventSpec, catalogue_queues
from nocturnal.shared.events.dead_letter import (
    DEATH_DELIVERIES_HEADER,
    DEATH_DETAIL_HEADER,
    DEATH_QUEUE_HEADER,
    DEATH_REASON_HEADER,
    DEATH_ROUTING_KEY_HEADER,
    DEATH_TIME_HEADER,
    DeathReason,
)
from nocturnal.shared.events.envelope import CLOUDEVENTS_CONTENT_TYPE, CloudEvent
from nocturnal.shared.events.publisher import REQUEST_ID_HEADER, TRACEPARENT_HEADER
from nocturnal.shared.events.topology import (
    DEFAULT_DELIVERY_LIMIT,
    ExchangeSpec,
    QueueSpec,
    dead_letter_queue,
)

__all__ = ["ASYNCAPI_VERSION", "asyncapi_document"]

ASYNCAPI_VERSION: Final = "3.0.0"
AMQP_BINDING_VERSION: Final = "0.3.0"
SERVER: Final = "rabbitmq"
_SCHEMAS: Final = "#/components/schemas/"
_ENVELOPE: Final = "CloudEvent"


def asyncapi_document(
    exchange: ExchangeSpec | None = None,
    *,
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
    broker_host: str = "rabbitmq:5672",
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document (a JSON-ready dict) of the events on ``exchange``.

    Deterministic: the same catalogue and models give the same document, key for key, so a
    checked-in copy can be compared with a fresh one. ``broker_host`` is the server's
    ``host:port`` (the DNS name every service reaches the broker by).
    """
    exchange = exchange or ExchangeSpec()
    queues = catalogue_queues(exchange, delivery_limit=delivery_limit)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for spec in EVENTS.values():
        channels[spec.name] = _routing_key_channel(spec, exchange, queues)
        operations.update(_operations(spec, queues))
    for queue in _with_dead_letter_queues(exchange, queues):
        channels[f"queue.{queue.name}"] = _queue_channel(queue)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Nocturnal domain events",
            "version": "1.0.0",
            "description": _INFO,
        },
        "defaultContentType": CLOUDEVENTS_CONTENT_TYPE,
        "servers": {
            SERVER: {
                "host": broker_host,
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "RabbitMQ; every service connects with a robust connection.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {spec.name: _message(spec) for spec in EVENTS.values()},
            "schemas": _schemas(),
        },
    }


_INFO: Final = (
    "Domain events of the Nocturnal platform. Every event is a CloudEvents 1.0 event in"
    " structured JSON mode (content type application/cloudevents+json), published persistent"
    " and mandatory with publisher confirms to a durable topic exchange, routing key = event"
    " name; `id` and `type` are copied into the AMQP message_id and type properties, the"
    " producing service into app_id. State changes and their events are stored together"
    " (transactional outbox); consumers deduplicate by event id (inbox) and ack after the effect"
    " is stored. A consumer validates `data` against the event's schema before handling it: an"
    " invalid envelope or payload is dead-lettered at once with its reason; a failing handler is"
    " retried with a delay, then dead-lettered. Consumers ignore fields they do not know;"
    " publishers add fields within a version only."
)


def _routing_key_channel(
    spec: EventSpec, exchange: ExchangeSpec, queues: list[QueueSpec]
) -> dict[str, Any]:
    bound = [queue.name for queue in queues if spec.name in queue.routing_keys]
    return {
        "address": spec.name,
        "title": spec.name,
        "description": (
            f"{spec.summary} Routed by the topic exchange `{exchange.name}` to the queues"
            f" {_listing(bound)}"
            + (
                f" and to an exclusive queue of each instance of {_listing(spec.fan_out)}."
                if spec.fan_out
                else "."
            )
        ),
        "servers": [{"$ref": f"#/servers/{SERVER}"}],
        "messages": {spec.name: {"$ref": f"#/components/messages/{spec.name}"}},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {
                    "name": exchange.name,
                    "type": "topic",
                    "durable": True,
                    "autoDelete": False,
                    "vhost": "/",
                },
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def _operations(spec: EventSpec, queues: list[QueueSpec]) -> dict[str, Any]:
    channel = {"$ref": f"#/channels/{spec.name}"}
    messages = [{"$ref": f"#/channels/{spec.name}/messages/{spec.name}"}]
    operations: dict[str, Any] = {
        f"{spec.publisher}.send.{spec.name}": {
            "action": "send",
            "channel": channel,
            "title": f"{spec.publisher} publishes {spec.name}",
            "description": "Stored in the publisher's outbox with the state change, then"
            " published with publisher confirms; redelivery may duplicate it (same id).",
            "messages": messages,
            "bindings": {
                "amqp": {
                    "deliveryMode": 2,
                    "mandatory": True,
                    "timestamp": True,
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }
    }
    receiving = {"ack": True, "bindingVersion": AMQP_BINDING_VERSION}
    for service in spec.consumers:
        queue = next(q for q in queues if q.name.endswith(f".{service}"))
        operations[f"{service}.receive.{spec.name}"] = {
            "action": "receive",
            "channel": channel,
            "title": f"{service} consumes {spec.name}",
            "description": f"From the durable quorum queue `{queue.name}`, once per service"
            f" (inbox by event id); dead-lettered to `{_dead_letter_name(queue)}`.",
            "messages": messages,
            "bindings": {"amqp": receiving},
        }
    for service in spec.fan_out:
        operations[f"{service}.receive.{spec.name}"] = {
            "action": "receive",
            "channel": channel,
            "title": f"every {service} instance consumes {spec.name}",
            "description": "From an exclusive, auto-delete classic queue of each instance"
            " (`<exchange>.<service>.<instance>.<random>`), applied to its in-memory state;"
            " dead-lettered to the service's dead-letter queue.",
            "messages": messages,
            "bindings": {"amqp": receiving},
        }
    return operations


def _queue_channel(queue: QueueSpec) -> dict[str, Any]:
    names = [name for name in EVENTS if name in queue.routing_keys]
    if queue.exchange.endswith(".dlx"):
        names = _dead_letter_events(queue)
    return {
        "address": queue.name,
        "title": queue.name,
        "description": _queue_description(queue),
        "servers": [{"$ref": f"#/servers/{SERVER}"}],
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
        "bindings": {
            "amqp": {
                "is": "queue",
                "queue": {
                    "name": queue.name,
                    "durable": queue.durable,
                    "exclusive": queue.exclusive,
                    "autoDelete": queue.auto_delete,
                    "vhost": "/",
                },
                "x-arguments": queue.arguments(),
                "x-bound-to": {"exchange": queue.exchange, "routingKeys": list(queue.routing_keys)},
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def _queue_description(queue: QueueSpec) -> str:
    if queue.exchange.endswith(".dlx"):
        reasons = ", ".join(f"`{reason.value}`" for reason in DeathReason)
        return (
            "Dead-letter queue. A message a consumer gave up on carries the headers"
            f" `{DEATH_REASON_HEADER}` ({reasons}), `{DEATH_DETAIL_HEADER}`,"
            f" `{DEATH_QUEUE_HEADER}`, `{DEATH_ROUTING_KEY_HEADER}`, `{DEATH_TIME_HEADER}` and"
            f" `{DEATH_DELIVERIES_HEADER}`;"
            " one RabbitMQ dead-lettered itself carries `x-death`. Nobody consumes it:"
            " operators list, show, replay and purge it with `python -m nocturnal.ops dlq`."
        )
    if queue.max_length is not None:
        return f"Audit trail: the newest {queue.max_length} security decisions, read by operators."
    return (
        f"Durable quorum queue of one service, shared by its instances; a message failing"
        f" {queue.delivery_limit} redeliveries, or invalid, goes to"
        f" `{_dead_letter_name(queue)}`."
    )


def _dead_letter_events(dead_letter: QueueSpec) -> list[str]:
    service = dead_letter.name.removesuffix(".dlq").rsplit(".", 1)[-1]
    return [
        spec.name
        for spec in EVENTS.values()
        if service in spec.consumers or service in spec.fan_out
    ]


def _with_dead_letter_queues(exchange: ExchangeSpec, queues: list[QueueSpec]) -> list[QueueSpec]:
    services = sorted({s for spec in EVENTS.values() for s in (*spec.consumers, *spec.fan_out)})
    found = {queue.name: queue for queue in queues}
    for queue in queues:
        if queue.dead_letter is not None:
            found[queue.dead_letter.name] = queue.dead_letter
    for service in services:
        dead_letter = dead_letter_queue(exchange, service)
        found[dead_letter.name] = dead_letter
    return [found[name] for name in sorted(found)]


def _message(spec: EventSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "title": spec.name,
        "summary": spec.summary,
        "contentType": CLOUDEVENTS_CONTENT_TYPE,
        "headers": {
            "type": "object",
            "description": "AMQP application headers beside the envelope's extensions.",
            "properties": {
                REQUEST_ID_HEADER: {
                    "type": "string",
                    "description": "The request id of the cause (also `requestid` in the body).",
                },
                TRACEPARENT_HEADER: {
                    "type": "string",
                    "description": "W3C trace context of the cause (also in the body).",
                },
            },
        },
        "payload": {
            "allOf": [
                {"$ref": f"{_SCHEMAS}{_ENVELOPE}"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": spec.type},
                        "source": {"const": f"/services/{spec.publisher}"},
                        "data": {"$ref": f"{_SCHEMAS}{spec.payload.__name__}"},
                    },
                },
            ]
        },
        "correlationId": {
            "description": "The event id, also the AMQP message_id: consumers deduplicate by it.",
            "location": "$message.payload#/id",
        },
        "bindings": {
            "amqp": {"messageType": spec.type, "bindingVersion": AMQP_BINDING_VERSION},
        },
    }


def _schemas() -> dict[str, Any]:
    models: Iterable[type[EventPayload]] = sorted(
        {spec.payload for spec in EVENTS.values()}, key=lambda model: model.__name__
    )
    _, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template=_SCHEMAS + "{model}"
    )
    schemas: dict[str, Any] = dict(sorted(definitions["$defs"].items()))
    schemas[_ENVELOPE] = _envelope_schema()
    return schemas


def _envelope_schema() -> dict[str, Any]:
    """The envelope model's schema as on the wire: a field whose value is never None is always
    written (required); the others are omitted when absent, never null."""
    schema = CloudEvent.model_json_schema(ref_template=_SCHEMAS + "{model}")
    schema["required"] = []
    for name, field in CloudEvent.model_fields.items():
        if field.is_required() or field.default is not None:
            schema["required"].append(name)
            continue
        written = schema["properties"][name]
        written.pop("default")
        written.update(*(kind for kind in written.pop("anyOf") if kind != {"type": "null"}))
    schema["description"] = (
        "CloudEvents 1.0 structured JSON mode; `traceparent` (Distributed Tracing extension) and"
        " `requestid` are extension attributes; absent optional attributes are omitted."
    )
    return schema


def _listing(names: Iterable[str]) -> str:
    return ", ".join(f"`{name}`" for name in names) or "(none: audit only)"


def _dead_letter_name(queue: QueueSpec) -> str:
    return queue.dead_letter.name if queue.dead_letter is not None else "(none)"
