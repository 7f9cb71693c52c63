"""What the api's use cases need of the world: repositories and the upload peer, as protocols.

The MongoDB adapters (`nocturnal.api.adapters`) implement them; tests use in-memory fakes.
Repositories obtained from a `Transaction` read and write inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from nocturnal.api.domain.applications import Application, ApplicationStatus
from nocturnal.api.domain.duties import Duty, DutyQuery
from nocturnal.api.domain.notifications import Notification
from nocturnal.api.domain.profiles import Profile
from nocturnal.shared.paging import Page, PageRequest


class DutyRepository(Protocol):
    """Posted duties, with the atomic position counter."""

    async def get(self, duty_id: str) -> Duty | None:
        """The duty, or None."""
        ...

    async def insert(self, duty: Duty) -> None:
        """Store a new duty."""
        ...

    async def replace(self, duty: Duty, *, expected: Duty) -> bool:
        """Store `duty` if the stored one still has `expected`'s status and filled count."""
        ...

    async def take_position(self, duty: Duty, now: datetime) -> Duty | None:
        """Take one position if the duty is still OPEN with one free (FILLED when full);
        None when none could be taken."""
        ...

    async def free_position(self, duty_id: str, now: datetime) -> Duty | None:
        """Release one taken position (a FILLED duty reopens); None when none was taken."""
        ...

    async def live_of_poster(self, poster_id: str) -> list[Duty]:
        """The poster's duties that are not CANCELLED."""
        ...

    async def page(self, query: DutyQuery, request: PageRequest) -> Page[Duty]:
        """A page of the duties matching `query`, soonest first. Raises InvalidCursor."""
        ...


class ApplicationRepository(Protocol):
    """Applications, one per (duty, applicant) ever."""

    async def get(self, application_id: str) -> Application | None:
        """The application, or None."""
        ...

    async def insert(self, application: Application) -> None:
        """Store a new application. Raises AlreadyApplied."""
        ...

    async def move(self, application: Application, *, expected: ApplicationStatus) -> bool:
        """Store `application`'s status if the stored one is still `expected`."""
        ...

    async def live_applicants(self, duty_id: str) -> list[str]:
        """Applicants whose application to the duty is PENDING or ACCEPTED."""
        ...

    async def of_applicant(self, applicant_id: str) -> list[Application]:
        """Every application of the applicant."""
        ...

    async def delete_of_applicant(self, applicant_id: str) -> None:
        """Erase every application of the applicant."""
        ...

    async def page_for_duty(self, duty_id: str, request: PageRequest) -> Page[Application]:
        """A page of the applications to the duty, oldest first. Raises InvalidCursor."""
        ...

    async def page_for_applicant(
        self, applicant_id: str, request: PageRequest
    ) -> Page[Application]:
        """A page of the applicant's applications, newest first. Raises InvalidCursor."""
        ...


class ProfileRepository(Protocol):
    """Profiles by user id; the photo is tracked apart from the editable fields."""

    async def get(self, user_id: str) -> Profile | None:
        """The registered user's profile, or None."""
        ...

    async def update(self, user_id: str, changes: dict[str, Any], now: datetime) -> Profile | None:
        """Apply `changes` (field → value); None when there is no profile."""
        ...

    async def register(self, user_id: str, *, name: str, role: str, at: datetime) -> None:
        """Create the profile of a newly registered user; an existing profile is kept."""
        ...

    async def set_photo(self, owner_id: str, file_id: str, at: datetime) -> None:
        """Make `file_id` the owner's photo unless a later upload (by `at`) already is."""
        ...

    async def clear_photo(self, owner_id: str, file_id: str) -> None:
        """Forget the owner's photo if it is `file_id`."""
        ...

    async def erase(self, user_id: str) -> None:
        """Delete the user's profile."""
        ...


class NotificationRepository(Protocol):
    """Notifications, newest first per user."""

    async def add(self, notifications: list[Notification]) -> None:
        """Store notifications; one already stored (same id) is left as it is."""
        ...

    async def mark_read(
        self, notification_id: str, user_id: str, now: datetime
    ) -> Notification | None:
        """Mark the user's notification read (the first reading time stays); None when the
        user has no such notification."""
        ...

    async def erase_of(self, user_id: str) -> None:
        """Delete every notification of the user."""
        ...

    async def page(self, user_id: str, request: PageRequest) -> Page[Notification]:
        """A page of the user's notifications, newest first. Raises InvalidCursor."""
        ...


class ErasureLedger(Protocol):
    """Which members' data was erased (`user.deleted`), claimed by every transaction that
    stores new data of a member so that it and an erasure never overlap unseen."""

    async def claim(self, user_id: str) -> bool:
        """True when new data of `user_id` may be stored in this transaction (which now
        conflicts with a concurrent erasure of the member); False when they were erased."""
        ...

    async def mark_erased(self, user_id: str, now: datetime) -> None:
        """Mark `user_id` erased, in the erasure's transaction."""
        ...


@dataclass(frozen=True)
class Repositories:
    """Every repository of the api, bound to one transaction (or to none, for reads)."""

    duties: DutyRepository
    applications: ApplicationRepository
    profiles: ProfileRepository
    notifications: NotificationRepository
    erasures: ErasureLedger


class PhotoLinks(Protocol):
    """The upload service, as far as profiles need it."""

    async def signed_url(self, file_id: str) -> str | None:
        """A URL serving the file for a while, or None when it cannot be had (never raises)."""
        ...
