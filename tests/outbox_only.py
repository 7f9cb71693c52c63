"""An event bus without a broker: events go to the service database's real outbox, the relay
wake-ups are counted. For testing units of work against MongoDB alone."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.shared.events import CloudEvent, Outbox, new_event


class OutboxOnlyBus:
    """What `MongoUnitOfWork` needs of an `EventBus`, on `db`'s outbox."""

    def __init__(self, db: AsyncDatabase[Any], service: str = "test") -> None:
        self.outbox = Outbox(db)
        self.service = service
        self.wake_ups = 0

    def event(self, name: str, data: dict[str, Any], *, subject: str | None = None) -> CloudEvent:
        return new_event(name, data, service=self.service, subject=subject)

    def notify(self) -> None:
        self.wake_ups += 1

    async def pending(self) -> list[dict[str, Any]]:
        """The CloudEvents waiting in the outbox, oldest first."""
        entries = self.outbox.collection.find({"sent_at": None}).sort("created_at", 1)
        return [entry["event"] async for entry in entries]
