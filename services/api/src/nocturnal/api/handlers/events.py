"""Event handlers: parse each consumed event and hand it to its use case, inside the inbox's
transaction (profiles from user and file events, notifications from duty and application
events, erasure on `user.deleted`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nocturnal.api.domain.events import EventName
from nocturnal.api.service_layer.marketplace import Marketplace
from nocturnal.api.service_layer.members import Notifications, Profiles
from nocturnal.api.service_layer.ports import Repositories
from nocturnal.shared.event_payloads import FileData, UserDeletedData, UserRegisteredData
from nocturnal.shared.events import CloudEvent
from nocturnal.shared.unit_of_work import Transaction

Tx = Transaction[Repositories]
EventHandler = Callable[[CloudEvent, Tx], Awaitable[None]]

# duty.posted tells nobody yet, but api is its consumer of record (DESIGN §3): subscribing
# binds it, so the outbox's mandatory publish is routable.
NOTIFYING_EVENTS = (
    EventName.DUTY_POSTED,
    EventName.APPLICATION_SUBMITTED,
    EventName.APPLICATION_ACCEPTED,
    EventName.APPLICATION_REJECTED,
    EventName.APPLICATION_WITHDRAWN,
    EventName.DUTY_FILLED,
    EventName.DUTY_UPDATED,
    EventName.DUTY_CANCELLED,
)


class EventHandlers:
    """The api's event consumers, each applied once in a transaction with the inbox."""

    def __init__(
        self, marketplace: Marketplace, profiles: Profiles, notifications: Notifications
    ) -> None:
        self._marketplace = marketplace
        self._profiles = profiles
        self._notifications = notifications

    def table(self) -> dict[str, EventHandler]:
        """Event name → handler, for the service's durable queue."""
        handlers: dict[str, EventHandler] = {
            EventName.USER_REGISTERED: self.user_registered,
            EventName.USER_DELETED: self.user_deleted,
            EventName.FILE_UPLOADED: self.file_uploaded,
            EventName.FILE_DELETED: self.file_deleted,
        }
        return handlers | dict.fromkeys(NOTIFYING_EVENTS, self.notify)

    async def user_registered(self, event: CloudEvent, tx: Tx) -> None:
        """Create the new user's profile."""
        data = UserRegisteredData.model_validate(event.data)
        await self._profiles.register(
            tx, data.user_id, name=data.name, role=data.role, at=event.time
        )

    async def user_deleted(self, event: CloudEvent, tx: Tx) -> None:
        """Erase the user's profile, notifications, applications and open duties."""
        await self._marketplace.erase_member(tx, UserDeletedData.model_validate(event.data).user_id)

    async def file_uploaded(self, event: CloudEvent, tx: Tx) -> None:
        """A new profile photo becomes the owner's photo (the latest upload wins)."""
        data = FileData.model_validate(event.data)
        await self._profiles.photo_uploaded(tx, data.owner_id, data.file_id, data.kind, event.time)

    async def file_deleted(self, event: CloudEvent, tx: Tx) -> None:
        """A deleted profile photo is no longer shown."""
        data = FileData.model_validate(event.data)
        await self._profiles.photo_deleted(tx, data.owner_id, data.file_id, data.kind)

    async def notify(self, event: CloudEvent, tx: Tx) -> None:
        """Store the notifications a duty or application event gives rise to."""
        await self._notifications.notify(tx, event.id, event.name, event.data, event.time)
