"""Domain events: CloudEvents envelope, catalogue and payload models, topology, confirmed publisher,
outbox relay, inbox consumer, dead-lettering with a reason."""

from nocturnal.shared.event_payloads import EventPayload
from nocturnal.shared.events.bus import EventBus
from nocturnal.shared.events.catalogue import (
    AUDITED,
    EVENTS,
    SUBSCRIPTIONS,
    EventSpec,
    catalogue_queue_names,
    catalogue_queues,
    payload_model,
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
from nocturnal.shared.events.dead_letter import DeathReason
from nocturnal.shared.events.envelope import (
    CloudEvent,
    InvalidEventError,
    event_type,
    new_event,
    parse,
)
from nocturnal.shared.events.outbox import Outbox, OutboxRelay
from nocturnal.shared.events.publisher import (
    ConfirmedChannel,
    ConfirmedPublisher,
    EventPublisher,
    MessageNotConfirmed,
    PublishError,
)
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
    "EVENTS",
    "SUBSCRIPTIONS",
    "AckPolicy",
    "CloudEvent",
    "ConfirmedChannel",
    "ConfirmedPublisher",
    "DeathReason",
    "DirectHandler",
    "DirectProcessor",
    "EventBus",
    "EventConsumer",
    "EventPayload",
    "EventProcessor",
    "EventPublisher",
    "EventSpec",
    "ExchangeSpec",
    "Handler",
    "Inbox",
    "InboxProcessor",
    "InvalidEventError",
    "MessageNotConfirmed",
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
    "payload_model",
    "service_queue",
]
