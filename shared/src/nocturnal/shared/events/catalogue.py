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
    service_queue,
)

__all__ = ["AUDITED", "SUBSCRIPTIONS", "catalogue_queue_names", "catalogue_queues"]

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
    """Names of every queue `catalogue_queues` declares, dead-letter queues included."""
    names: list[str] = []
    for queue in catalogue_queues(exchange):
        names.append(queue.name)
        if queue.dead_letter is not None:
            names.append(queue.dead_letter.name)
    return names
