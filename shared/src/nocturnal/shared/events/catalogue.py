"""The event catalogue (DESIGN §3): which durable queue receives which events.

Every service declares the whole catalogue when its bus opens, so an event routes to its
consumers' queues even before those consumers have ever started (no event is unroutable merely
because a peer deployed later), and the queues' bindings are written in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from nocturnal.shared.events.topology import (
    DEFAULT_DELIVERY_LIMIT,
    ExchangeSpec,
    QueueSpec,
    audit_queue,
    dead_letter_queue,
    service_queue,
)

__all__ = ["AUDITED", "SERVICES", "SUBSCRIPTIONS", "catalogue_queue_names", "catalogue_queues"]

SERVICES: Final = ("auth", "api", "upload", "ratelimit")
"""Every service of the platform (each may run fan-out consumers with a dead-letter queue)."""

SUBSCRIPTIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "api": (
        "application.accepted",
        "application.rejected",
        "application.submitted",
        "application.withdrawn",
        "duty.cancelled",
        "duty.filled",
        "duty.posted",
        "duty.updated",
        "file.deleted",
        "file.uploaded",
        "user.deleted",
        "user.registered",
    ),
    "upload": ("user.deleted",),
    "ratelimit": ("user.login_failed", "user.login_succeeded"),
}
"""Service name → the event names its durable quorum queue is bound to (and it must handle)."""

AUDITED: Final[tuple[str, ...]] = ("auth.tokens_revoked", "ratelimit.tier_changed")
"""Events kept on the bounded audit queue: the trail of security decisions. Fan-out events
also need it so that they route while no verifying instance is up."""


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
