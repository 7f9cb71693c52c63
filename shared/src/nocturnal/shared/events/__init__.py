"""Domain events: CloudEvents envelope, topology and catalogue, confirmed publisher, outbox relay, inbox consumer."""

from nocturnal.shared.events.bus import EventBus
from nocturnal.shared.events.catalogue import (
    AUDITED,
    SUBSCRIPTIONS,
    catalogue_queue_names,
    catalogue_queues,
)
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
from nocturnal.shared.events.envelope import (
    CloudEvent,
    InvalidEventError,
    event_type,
    new_event,
    parse,
)
from nocturnal.shared.events.outbox import Outbox, OutboxRelay
from nocturnal.shared.events.publisher import ConfirmedPublisher, EventPublisher, PublishError
from nocturnal.shared.events.topology import (
    ExchangeSpec,
    QueueSpec,
    QueueType,
    TopologyError,
    audit_queue,
    dead_letter_queue,
    declare,
    instance_queue,
    service_queue,
)

__all__ = [
    "ACK_POLICY",
    "AUDITED",
    "SUBSCRIPTIONS",
    "AckPolicy",
    "CloudEvent",
    "ConfirmedPublisher",
    "DirectHandler",
    "DirectProcessor",
    "EventBus",
    "EventConsumer",
    "EventProcessor",
    "EventPublisher",
    "ExchangeSpec",
    "Handler",
    "Inbox",
    "InboxProcessor",
    "InvalidEventError",
    "Outbox",
    "OutboxRelay",
    "PublishError",
    "QueueSpec",
    "QueueType",
    "TopologyError",
    "audit_queue",
    "catalogue_queue_names",
    "catalogue_queues",
    "dead_letter_queue",
    "declare",
    "event_type",
    "instance_queue",
    "new_event",
    "parse",
    "service_queue",
]
