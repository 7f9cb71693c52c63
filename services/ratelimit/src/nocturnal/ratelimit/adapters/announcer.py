"""Tier changes announced straight to the broker: the service has no database, hence no outbox."""

from __future__ import annotations

from nocturnal.shared.events import EventBus, PublishError
from nocturnal.shared.logging import get_logger
from nocturnal.shared.unit_of_work import DomainEvent

log = get_logger("tiers")


class BusAnnouncer:
    """The `Announcer`: publishes with confirms on the service's bus; a failed publish is
    logged and dropped (the change it announces stays in effect)."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    async def announce(self, event: DomainEvent) -> None:
        """Publish `event`, confirmed, or log why not."""
        cloud_event = self._bus.event(event.name, event.data, subject=event.subject)
        try:
            await self._bus.publisher.publish_confirmed(cloud_event)
        except PublishError as exc:
            log.warning("tier change not announced", reason=exc.reason, event_id=cloud_event.id)
