"""The event catalogue (DESIGN §3): every event's name, version, publisher, consumers and payload
model, declared once; the durable queues and bindings follow from it.

Every service declares the whole catalogue's queues when its bus opens, so an event routes to its
consumers' queues even before those consumers have ever started (no event is unroutable merely
because a peer deployed later). The AsyncAPI document (``docs/asyncapi.json``) is generated from
this table and the payload models (:mod:`nocturnal.shared.events.asyncapi`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from nocturnal.shared import event_payloads as payloads
from nocturnal.shared.event_payloads import EventPayload
from nocturnal.shared.events.topology import (
    DEFAULT_DELIVERY_LIMIT,
    ExchangeSpec,
    QueueSpec,
    audit_queue,
    dead_letter_queue,
    service_queue,
)

__all__ = [
    "AUDITED",
    "EVENTS",
    "SERVICES",
    "SUBSCRIPTIONS",
    "EventSpec",
    "catalogue_queue_names",
    "catalogue_queues",
    "payload_model",
]

SERVICES: Final = ("auth", "api", "upload", "ratelimit")
"""Every service of the platform (each may run fan-out consumers with a dead-letter queue)."""


@dataclass(frozen=True)
class EventSpec:
    """One event of the catalogue.

    ``name`` is the routing key; the CloudEvents ``type`` is ``nocturnal.<name>.v<version>``.
    ``consumers`` are the services whose durable quorum queue it is bound to (each event handled
    once per service); ``fan_out`` the services whose every instance receives it on a queue of
    its own; ``audited`` keeps it on the bounded audit queue. ``payload`` is the model of its
    ``data`` (:mod:`nocturnal.shared.event_payloads`).
    """

    name: str
    publisher: str
    payload: type[EventPayload]
    summary: str
    consumers: tuple[str, ...] = ()
    fan_out: tuple[str, ...] = ()
    audited: bool = False
    version: int = 1

    @property
    def type(self) -> str:
        """The CloudEvents ``type``: ``nocturnal.user.registered.v1``."""
        return f"nocturnal.{self.name}.v{self.version}"


_EVENTS: Final = (
    EventSpec(
        "user.registered",
        "auth",
        payloads.UserRegisteredData,
        "An account was created.",
        consumers=("api",),
    ),
    EventSpec(
        "user.login_succeeded",
        "auth",
        payloads.LoginSucceededData,
        "A user signed in.",
        consumers=("ratelimit",),
    ),
    EventSpec(
        "user.login_failed",
        "auth",
        payloads.LoginFailedData,
        "A sign-in was refused (unknown e-mail or wrong password).",
        consumers=("ratelimit",),
    ),
    EventSpec(
        "auth.tokens_revoked",
        "auth",
        payloads.TokensRevokedData,
        "A user's access tokens issued before a moment are revoked.",
        fan_out=("auth", "api", "upload"),
        audited=True,
    ),
    EventSpec(
        "user.deleted",
        "auth",
        payloads.UserDeletedData,
        "An account was deleted: its data and files are erased everywhere.",
        consumers=("api", "upload"),
    ),
    *(
        EventSpec(f"duty.{change}", "api", payloads.DutyData, summary, consumers=("api",))
        for change, summary in (
            ("posted", "A hospital admin posted a duty."),
            ("updated", "A duty's details or filled positions changed."),
            ("cancelled", "A duty was cancelled."),
            ("filled", "Every position of a duty is taken."),
        )
    ),
    *(
        EventSpec(
            f"application.{change}", "api", payloads.ApplicationData, summary, consumers=("api",)
        )
        for change, summary in (
            ("submitted", "A doctor or nurse applied to a duty."),
            ("accepted", "The posting admin accepted an application."),
            ("rejected", "The posting admin rejected an application."),
            ("withdrawn", "The applicant withdrew an application."),
        )
    ),
    EventSpec(
        "file.uploaded", "upload", payloads.FileData, "A file was stored.", consumers=("api",)
    ),
    EventSpec(
        "file.deleted", "upload", payloads.FileData, "A file was deleted.", consumers=("api",)
    ),
    EventSpec(
        "ratelimit.tier_changed",
        "ratelimit",
        payloads.TierChangedData,
        "A subject was put on a tier for a bounded time (by an operator or after abuse).",
        audited=True,
    ),
)

EVENTS: Final[Mapping[str, EventSpec]] = {spec.name: spec for spec in _EVENTS}
"""Event name → its declaration: the catalogue."""

SUBSCRIPTIONS: Final[Mapping[str, tuple[str, ...]]] = {
    service: tuple(sorted(spec.name for spec in _EVENTS if service in spec.consumers))
    for service in SERVICES
    if any(service in spec.consumers for spec in _EVENTS)
}
"""Service name → the event names its durable quorum queue is bound to (and it must handle)."""

AUDITED: Final[tuple[str, ...]] = tuple(spec.name for spec in _EVENTS if spec.audited)
"""Events kept on the bounded audit queue: the trail of security decisions. Fan-out events
also need it so that they route while no verifying instance is up."""


def payload_model(name: str) -> type[EventPayload]:
    """The model of the ``data`` of the event called ``name``.

    Raises:
        KeyError: ``name`` is not in the catalogue.
    """
    return EVENTS[name].payload


def catalogue_queues(
    exchange: ExchangeSpec, *, delivery_limit: int = DEFAULT_DELIVERY_LIMIT
) -> list[QueueSpec]:
    """Every service queue of the catalogue (with dead-letter queues) plus the audit queue."""
    queues = [
        service_queue(exchange, service, keys, delivery_limit=delivery_limit)
        for service, keys in SUBSCRIPTIONS.items()
    ]
    return [*queues, audit_queue(exchange, AUDITED)]


def catalogue_queue_names(exchange: ExchangeSpec) -> list[str]:
    """Names of every durable queue the platform declares on `exchange`: the catalogue's queues
    and dead-letter queues, and the dead-letter queue of every service's fan-out consumers."""
    names: set[str] = set()
    for queue in catalogue_queues(exchange):
        names.add(queue.name)
        if queue.dead_letter is not None:
            names.add(queue.dead_letter.name)
    names.update(dead_letter_queue(exchange, service).name for service in SERVICES)
    return sorted(names)
