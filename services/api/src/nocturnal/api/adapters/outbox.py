"""Domain events into the shared transactional outbox, as CloudEvents of the api service."""

from __future__ import annotations

from collections.abc import Iterable

from pymongo.asynchronous.client_session import AsyncClientSession

from nocturnal.api.domain.events import DomainEvent
from nocturnal.shared.events import EventBus


class BusOutbox:
    """Adds domain events to the event bus's outbox inside the caller's transaction."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    async def add(self, events: Iterable[DomainEvent], *, session: AsyncClientSession) -> None:
        """Store `events` in the outbox within the transaction on `session`."""
        for event in events:
            cloud_event = self._bus.event(event.name.value, event.data, subject=event.subject)
            await self._bus.outbox.add(cloud_event, session=session)

    def notify(self) -> None:
        """Wake the relay: call after the transaction committed."""
        self._bus.notify()
