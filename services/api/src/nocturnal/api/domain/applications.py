"""Applications of doctors and nurses to duties, and the moves between their states."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from typing_extensions import TypedDict

from nocturnal.api.domain.duties import Duty
from nocturnal.api.domain.errors import StateConflict
from nocturnal.shared.clock import Timestamp, rfc3339

APPLICANT_ROLES = ("doctor", "nurse")
MAX_COVER_LETTER_CHARS = 5000


class ApplicationStatus(StrEnum):
    """PENDING until the admin decides; WITHDRAWN by the applicant; REJECTED/WITHDRAWN are final."""

    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"


_MOVES: dict[ApplicationStatus, frozenset[ApplicationStatus]] = {
    ApplicationStatus.PENDING: frozenset(
        {ApplicationStatus.ACCEPTED, ApplicationStatus.REJECTED, ApplicationStatus.WITHDRAWN}
    ),
    ApplicationStatus.ACCEPTED: frozenset({ApplicationStatus.WITHDRAWN}),
}


class InvalidTransition(StateConflict):
    """The application cannot move from its status to the requested one."""


class AlreadyApplied(StateConflict):
    """The applicant already has an application to this duty (one per duty, ever)."""


class ApplicationView(TypedDict):
    """An application as the API and its events show it."""

    id: str
    duty_id: str
    applicant_id: str
    status: ApplicationStatus
    cover_letter: str
    created_at: Timestamp
    updated_at: Timestamp


@dataclass(frozen=True)
class Application:
    """One applicant's application to one duty."""

    id: str
    duty_id: str
    applicant_id: str
    status: ApplicationStatus
    cover_letter: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def submit(
        cls, application_id: str, duty: Duty, *, applicant_id: str, cover_letter: str, now: datetime
    ) -> Application:
        """A PENDING application to `duty`.

        Raises:
            DutyNotOpen: the duty does not take applications.
        """
        duty.ensure_open()
        return cls(
            id=application_id,
            duty_id=duty.id,
            applicant_id=applicant_id,
            status=ApplicationStatus.PENDING,
            cover_letter=cover_letter,
            created_at=now,
            updated_at=now,
        )

    def move_to(self, status: ApplicationStatus, now: datetime) -> Application:
        """The application in `status`.

        Raises:
            InvalidTransition: PENDING may become ACCEPTED, REJECTED or WITHDRAWN; ACCEPTED
                may become WITHDRAWN; nothing else moves.
        """
        if status not in _MOVES.get(self.status, frozenset()):
            raise InvalidTransition(f"the application is {self.status}; it cannot become {status}")
        return dataclasses.replace(self, status=status, updated_at=now)

    @property
    def is_live(self) -> bool:
        """PENDING or ACCEPTED: it still counts for its duty (and may be withdrawn)."""
        return ApplicationStatus.WITHDRAWN in _MOVES.get(self.status, frozenset())

    def withdrawn_on_erasure(self, now: datetime) -> Application:
        """The live application WITHDRAWN because its applicant's account was deleted, without
        the cover letter (the applicant's own words go with them).

        Raises:
            InvalidTransition: it is not live.
        """
        return dataclasses.replace(self.move_to(ApplicationStatus.WITHDRAWN, now), cover_letter="")

    def to_json(self) -> ApplicationView:
        """The application as the API and its events show it."""
        return {
            "id": self.id,
            "duty_id": self.duty_id,
            "applicant_id": self.applicant_id,
            "status": self.status,
            "cover_letter": self.cover_letter,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        }
