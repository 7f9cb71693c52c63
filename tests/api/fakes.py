"""In-memory repositories and upload peer of the api, for unit tests of its use cases."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from fakes import Clock, FakeErasureLedger, FakeUnitOfWork, Ids, page_of

from nocturnal.api.domain.applications import AlreadyApplied, Application, ApplicationStatus
from nocturnal.api.domain.duties import Duty, DutyQuery, DutyStatus
from nocturnal.api.domain.notifications import Notification
from nocturnal.api.domain.profiles import Profile
from nocturnal.api.service_layer.marketplace import Marketplace
from nocturnal.api.service_layer.members import Notifications, Profiles
from nocturnal.api.service_layer.ports import Repositories
from nocturnal.shared.clock import rfc3339
from nocturnal.shared.paging import Page, PageRequest


class FakeDuties:
    """`DutyRepository` in a dict."""

    def __init__(self) -> None:
        self.stored: dict[str, Duty] = {}

    async def get(self, duty_id: str) -> Duty | None:
        return self.stored.get(duty_id)

    async def insert(self, duty: Duty) -> None:
        self.stored[duty.id] = duty

    async def replace(self, duty: Duty, *, expected: Duty) -> bool:
        stored = self.stored.get(duty.id)
        if stored is None or (stored.status, stored.positions_filled) != (
            expected.status,
            expected.positions_filled,
        ):
            return False
        self.stored[duty.id] = duty
        return True

    async def take_position(self, duty: Duty, now: datetime) -> Duty | None:
        stored = self.stored.get(duty.id)
        if stored is None or stored.status is not DutyStatus.OPEN or stored.is_full:
            return None
        return self._count(stored, +1, now)

    async def free_position(self, duty_id: str, now: datetime) -> Duty | None:
        stored = self.stored.get(duty_id)
        if stored is None or stored.positions_filled == 0:
            return None
        return self._count(stored, -1, now)

    async def live_of_poster(self, poster_id: str) -> list[Duty]:
        return [
            d
            for d in self.stored.values()
            if d.posted_by == poster_id and d.status is not DutyStatus.CANCELLED
        ]

    async def page(self, query: DutyQuery, request: PageRequest) -> Page[Duty]:
        matching = [d for d in self.stored.values() if _matches(d, query)]
        return page_of(matching, request, _soonest_first)

    def _count(self, duty: Duty, step: int, now: datetime) -> Duty:
        counted = dataclasses.replace(
            duty, positions_filled=duty.positions_filled + step, updated_at=now
        ).with_settled_status()
        self.stored[duty.id] = counted
        return counted


def _soonest_first(duty: Duty) -> list[str]:
    details = duty.details
    return [details.date.isoformat(), details.start_time.strftime("%H:%M"), duty.id]


def _matches(duty: Duty, query: DutyQuery) -> bool:
    details = duty.details
    return all(
        (
            query.status is None or duty.status is query.status,
            query.urgency is None or details.urgency is query.urgency,
            query.specialty is None or details.specialty.casefold() == query.specialty.casefold(),
            query.location is None or details.location.casefold() == query.location.casefold(),
            query.date_from is None or details.date >= query.date_from,
            query.date_to is None or details.date <= query.date_to,
        )
    )


class FakeApplications:
    """`ApplicationRepository` in a dict, one per (duty, applicant)."""

    def __init__(self) -> None:
        self.stored: dict[str, Application] = {}

    async def get(self, application_id: str) -> Application | None:
        return self.stored.get(application_id)

    async def insert(self, application: Application) -> None:
        if any(
            (a.duty_id, a.applicant_id) == (application.duty_id, application.applicant_id)
            for a in self.stored.values()
        ):
            raise AlreadyApplied("you have already applied to this duty")
        self.stored[application.id] = application

    async def move(self, application: Application, *, expected: ApplicationStatus) -> bool:
        stored = self.stored.get(application.id)
        if stored is None or stored.status is not expected:
            return False
        self.stored[application.id] = application
        return True

    async def live_applicants(self, duty_id: str) -> list[str]:
        live = (ApplicationStatus.PENDING, ApplicationStatus.ACCEPTED)
        return [
            a.applicant_id
            for a in self.stored.values()
            if a.duty_id == duty_id and a.status in live
        ]

    async def of_applicant(self, applicant_id: str) -> list[Application]:
        return [a for a in self.stored.values() if a.applicant_id == applicant_id]

    async def delete_of_applicant(self, applicant_id: str) -> None:
        self.stored = {k: a for k, a in self.stored.items() if a.applicant_id != applicant_id}

    async def page_for_duty(self, duty_id: str, request: PageRequest) -> Page[Application]:
        mine = [a for a in self.stored.values() if a.duty_id == duty_id]
        return page_of(mine, request, _created)

    async def page_for_applicant(
        self, applicant_id: str, request: PageRequest
    ) -> Page[Application]:
        mine = [a for a in self.stored.values() if a.applicant_id == applicant_id]
        return page_of(mine, request, _created, descending=True)


def _created(item: Application | Notification) -> list[str]:
    return [rfc3339(item.created_at), item.id]


class FakeProfiles:
    """`ProfileRepository` in a dict; a photo may arrive before the registration."""

    def __init__(self) -> None:
        self.stored: dict[str, Profile] = {}
        self.photos: dict[str, tuple[str | None, datetime]] = {}

    async def get(self, user_id: str) -> Profile | None:
        profile = self.stored.get(user_id)
        if profile is None:
            return None
        photo, _ = self.photos.get(user_id, (None, None))
        return dataclasses.replace(profile, photo_file_id=photo)

    async def update(self, user_id: str, changes: dict[str, Any], now: datetime) -> Profile | None:
        if user_id not in self.stored:
            return None
        values = {k: tuple(v) if k == "skills" else v for k, v in changes.items()}
        self.stored[user_id] = dataclasses.replace(self.stored[user_id], **values)
        return await self.get(user_id)

    async def register(self, user_id: str, *, name: str, role: str, at: datetime) -> None:
        self.stored.setdefault(user_id, Profile(user_id=user_id, name=name, role=role))

    async def set_photo(self, owner_id: str, file_id: str, at: datetime) -> None:
        _, shown_since = self.photos.get(owner_id, (None, None))
        if shown_since is None or shown_since < at:
            self.photos[owner_id] = (file_id, at)

    async def clear_photo(self, owner_id: str, file_id: str) -> None:
        photo, at = self.photos.get(owner_id, (None, None))
        if photo == file_id and at is not None:
            self.photos[owner_id] = (None, at)

    async def erase(self, user_id: str) -> None:
        self.stored.pop(user_id, None)


class FakeNotifications:
    """`NotificationRepository` in a dict."""

    def __init__(self) -> None:
        self.stored: dict[str, Notification] = {}

    async def add(self, notifications: list[Notification]) -> None:
        for notification in notifications:
            self.stored.setdefault(notification.id, notification)

    async def mark_read(
        self, notification_id: str, user_id: str, now: datetime
    ) -> Notification | None:
        stored = self.stored.get(notification_id)
        if stored is None or stored.user_id != user_id:
            return None
        if stored.read_at is None:
            stored = self.stored[notification_id] = dataclasses.replace(stored, read_at=now)
        return stored

    async def erase_of(self, user_id: str) -> None:
        self.stored = {k: n for k, n in self.stored.items() if n.user_id != user_id}

    async def page(self, user_id: str, request: PageRequest) -> Page[Notification]:
        mine = [n for n in self.stored.values() if n.user_id == user_id]
        return page_of(mine, request, _created, descending=True)


class FakePhotoLinks:
    """The upload peer: a URL for the files it knows, None for others; counts the calls."""

    def __init__(self) -> None:
        self.files: set[str] = set()
        self.calls = 0

    async def signed_url(self, file_id: str) -> str | None:
        self.calls += 1
        return f"https://files.example/{file_id}" if file_id in self.files else None


class FakeApi:
    """The api's use cases wired to in-memory repositories, a fixed clock and predictable ids."""

    def __init__(self) -> None:
        self.duties, self.applications = FakeDuties(), FakeApplications()
        self.profiles, self.notifications = FakeProfiles(), FakeNotifications()
        self.erasures = FakeErasureLedger()
        self.uow = FakeUnitOfWork(
            Repositories(
                self.duties, self.applications, self.profiles, self.notifications, self.erasures
            )
        )
        self.clock, self.photos = Clock(), FakePhotoLinks()
        self.marketplace = Marketplace(self.uow, clock=self.clock, ids=Ids())
        self.profile_service = Profiles(self.uow, self.photos, clock=self.clock)
        self.notification_service = Notifications(self.uow, clock=self.clock)
