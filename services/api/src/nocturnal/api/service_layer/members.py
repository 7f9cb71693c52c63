"""Use cases of the members' own records: profiles (from `user.registered`, photos from
`file.*`) and the notifications that duty and application events give rise to."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from nocturnal.api.domain.errors import NotFound
from nocturnal.api.domain.notifications import (
    APPLICANT_DUTY_EVENTS,
    Notification,
    notifications_for,
)
from nocturnal.api.domain.profiles import PROFILE_PHOTO_KIND, Profile
from nocturnal.api.service_layer.ports import PhotoLinks, Repositories
from nocturnal.shared.clock import Clock, utc_now
from nocturnal.shared.paging import Page, PageRequest
from nocturnal.shared.unit_of_work import Transaction, UnitOfWork

Tx = Transaction[Repositories]


class Profiles:
    """Profiles: read and edited by members, made and given photos by events."""

    def __init__(
        self, uow: UnitOfWork[Repositories], photos: PhotoLinks, *, clock: Clock = utc_now
    ) -> None:
        self._uow = uow
        self._photos = photos
        self._clock = clock

    async def profile(self, user_id: str) -> tuple[Profile, str | None]:
        """The user's profile and a signed URL of its photo (None without one, or when upload
        cannot give one).

        Raises:
            NotFound: no profile for this user (yet).
        """
        profile = await self._uow.repositories.profiles.get(user_id)
        if profile is None:
            raise NotFound("no profile for this user (yet)")
        return profile, await self._photo_url(profile)

    async def edit(self, user_id: str, changes: dict[str, Any]) -> tuple[Profile, str | None]:
        """Apply `changes` (field → new value) to the user's profile; none changes nothing.

        Raises:
            NotFound: no profile for this user (yet).
        """
        if not changes:
            return await self.profile(user_id)
        profiles = self._uow.repositories.profiles
        profile = await profiles.update(user_id, changes, self._clock())
        if profile is None:
            raise NotFound("no profile for this user (yet)")
        return profile, await self._photo_url(profile)

    async def register(self, tx: Tx, user_id: str, *, name: str, role: str, at: datetime) -> None:
        """`user.registered`: the new user's profile (an existing one is kept as edited; none
        for a user already erased, whose `user.deleted` overtook this event)."""
        if await tx.repositories.erasures.claim(user_id):
            await tx.repositories.profiles.register(user_id, name=name, role=role, at=at)

    async def photo_uploaded(
        self, tx: Tx, owner_id: str, file_id: str, kind: str, at: datetime
    ) -> None:
        """`file.uploaded`: a profile photo becomes the owner's photo (the latest upload by
        event time wins, so an older event arriving late changes nothing; nor does one about
        an erased owner)."""
        if kind == PROFILE_PHOTO_KIND and await tx.repositories.erasures.claim(owner_id):
            await tx.repositories.profiles.set_photo(owner_id, file_id, at)

    async def photo_deleted(self, tx: Tx, owner_id: str, file_id: str, kind: str) -> None:
        """`file.deleted`: a deleted profile photo is no longer shown."""
        if kind == PROFILE_PHOTO_KIND:
            await tx.repositories.profiles.clear_photo(owner_id, file_id)

    async def _photo_url(self, profile: Profile) -> str | None:
        if not profile.photo_file_id:
            return None
        return await self._photos.signed_url(profile.photo_file_id)


class Notifications:
    """Notifications: stored from duty and application events, read by their recipient."""

    def __init__(self, uow: UnitOfWork[Repositories], *, clock: Clock = utc_now) -> None:
        self._uow = uow
        self._clock = clock

    async def page(self, user_id: str, request: PageRequest) -> Page[Notification]:
        """A page of the user's notifications, newest first. Raises InvalidCursor."""
        return await self._uow.repositories.notifications.page(user_id, request)

    async def mark_read(self, notification_id: str, user_id: str) -> Notification:
        """The user's notification, marked read (the first reading time stays).

        Raises:
            NotFound: the user has no such notification.
        """
        notifications = self._uow.repositories.notifications
        notification = await notifications.mark_read(notification_id, user_id, self._clock())
        if notification is None:
            raise NotFound("no such notification")
        return notification

    async def notify(
        self, tx: Tx, event_id: str, name: str, data: Mapping[str, Any], at: datetime
    ) -> None:
        """Store the notifications a duty or application event gives rise to (ids derived from
        the event, so a redelivery stores nothing new); none for an erased recipient (an event
        from before their `user.deleted` may be handled after it). Each recipient is claimed,
        not merely looked up: a notification committed while its recipient's erasure runs would
        otherwise survive it (seen under load in the end-to-end test). The price is that a busy
        poster's notifications contend for one entry and retry on a write conflict."""
        repositories = tx.repositories
        applicants: list[str] = []
        if name in APPLICANT_DUTY_EVENTS:
            applicants = await repositories.applications.live_applicants(data["id"])
        notifications = notifications_for(event_id, name, data, at=at, applicant_ids=applicants)
        await repositories.notifications.add(
            [n for n in notifications if await repositories.erasures.claim(n.user_id)]
        )
