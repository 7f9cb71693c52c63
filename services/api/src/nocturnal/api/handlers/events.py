"""Event handlers: profiles from user and file events, notifications from duty and
application events, erasure on `user.deleted`, token revocations (fan-out)."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from nocturnal.api.adapters.notifications import NotificationRepository
from nocturnal.api.adapters.profiles import ProfileRepository
from nocturnal.api.domain.events import EventName
from nocturnal.api.domain.notifications import APPLICANT_DUTY_EVENTS, notifications_for
from nocturnal.api.domain.profiles import PROFILE_PHOTO_KIND
from nocturnal.api.domain.timestamps import to_millis
from nocturnal.api.service_layer import Marketplace
from nocturnal.shared.events import CloudEvent, Handler
from nocturnal.shared.events.payloads import FileData, UserDeletedData, UserRegisteredData

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
        self,
        profiles: ProfileRepository,
        marketplace: Marketplace,
        notifications: NotificationRepository,
    ) -> None:
        self._profiles = profiles
        self._marketplace = marketplace
        self._notifications = notifications

    def table(self) -> dict[str, Handler]:
        """Event name -> handler, for the service's durable queue."""
        handlers: dict[str, Handler] = {
            EventName.USER_REGISTERED: self.user_registered,
            EventName.USER_DELETED: self.user_deleted,
            EventName.FILE_UPLOADED: self.file_uploaded,
            EventName.FILE_DELETED: self.file_deleted,
        }
        return handlers | dict.fromkeys(NOTIFYING_EVENTS, self.notify)

    async def user_registered(self, event: CloudEvent, session: AsyncClientSession) -> None:
        """Create the new user's profile."""
        data = UserRegisteredData.model_validate(event.data)
        await self._profiles.register(
            data.user_id, name=data.name, role=data.role, at=to_millis(event.time), session=session
        )

    async def user_deleted(self, event: CloudEvent, session: AsyncClientSession) -> None:
        """Erase the user's profile, notifications, applications and open duties."""
        user_id = UserDeletedData.model_validate(event.data).user_id
        await self._marketplace.erase_participant(user_id, session=session)
        await self._profiles.erase(user_id, session=session)
        await self._notifications.erase_of(user_id, session=session)

    async def file_uploaded(self, event: CloudEvent, session: AsyncClientSession) -> None:
        """A new profile photo becomes the owner's photo (the latest upload wins)."""
        data = FileData.model_validate(event.data)
        if data.kind == PROFILE_PHOTO_KIND:
            await self._profiles.set_photo(
                data.owner_id, data.file_id, to_millis(event.time), session=session
            )

    async def file_deleted(self, event: CloudEvent, session: AsyncClientSession) -> None:
        """A deleted profile photo is no longer shown."""
        data = FileData.model_validate(event.data)
        if data.kind == PROFILE_PHOTO_KIND:
            await self._profiles.clear_photo(data.owner_id, data.file_id, session=session)

    async def notify(self, event: CloudEvent, session: AsyncClientSession) -> None:
        """Store the notifications a duty or application event gives rise to."""
        applicants: list[str] = []
        if event.name in APPLICANT_DUTY_EVENTS:
            applicants = await self._marketplace.applications.live_applicants(
                event.data["id"], session=session
            )
        notifications = notifications_for(
            event.id, event.name, event.data, at=to_millis(event.time), applicant_ids=applicants
        )
        await self._notifications.add(notifications, session=session)
