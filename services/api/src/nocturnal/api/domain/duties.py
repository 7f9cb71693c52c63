"""Duties: the shifts hospital admins post, their pay, and how positions fill and free up."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, WithJsonSchema, with_config
from typing_extensions import TypedDict

from nocturnal.api.domain.errors import InvalidValue, StateConflict
from nocturnal.api.domain.pay import Pay, compute_pay
from nocturnal.shared.clock import Timestamp, rfc3339

POSTER_ROLE = "hospital_admin"
MAX_POSITIONS = 50
# The wall-clock date of a duty is the hospital's; one day of slack covers every time zone.
PAST_DATE_SLACK = timedelta(days=1)


class Urgency(StrEnum):
    """How soon a duty must be covered."""

    NORMAL = "NORMAL"
    URGENT = "URGENT"
    EMERGENCY = "EMERGENCY"


class DutyStatus(StrEnum):
    """OPEN takes applications; FILLED has every position accepted; CANCELLED is final."""

    OPEN = "OPEN"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"


class DutyNotOpen(StateConflict):
    """The duty is FILLED or CANCELLED."""


class DutyFull(StateConflict):
    """Every position of the duty is taken."""


class DutyChanged(StateConflict):
    """The duty changed between reading and writing it."""


CalendarDate = Annotated[str, WithJsonSchema({"type": "string", "format": "date"})]
"""A date `YYYY-MM-DD`: the hospital's wall-clock date of a duty."""

WallClock = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
"""A wall-clock time `HH:MM` (24 h) in the hospital's zone."""


class RequirementsView(TypedDict):
    """What an applicant should bring: years of experience and skills."""

    minimum_experience: Annotated[int, Field(ge=0)]
    required_skills: list[str]


@with_config(
    ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "6f0c2d1e9b7a4c38a1e5d2f4b3c6a7e8",
                    "title": "Night cover, ICU",
                    "hospital_name": "St Mary's General Hospital",
                    "department": "Intensive Care Unit",
                    "specialty": "Critical Care",
                    "description": "Handover at 21:45.",
                    "date": "2031-12-24",
                    "start_time": "22:00",
                    "end_time": "06:00",
                    "hourly_rate": 95.5,
                    "duration_hours": 8.0,
                    "total_compensation": 764.0,
                    "platform_fee_percent": 5.0,
                    "net_payment": 725.8,
                    "positions_needed": 2,
                    "positions_filled": 0,
                    "urgency": "URGENT",
                    "location": "London",
                    "requirements": {
                        "minimum_experience": 3,
                        "required_skills": ["ventilator management"],
                    },
                    "status": "OPEN",
                    "posted_by": "2b9d4c7e1f0a4e6b8c3d5a7f9e1b2c4d",
                    "created_at": "2031-12-01T09:30:00.000Z",
                    "updated_at": "2031-12-01T09:30:00.000Z",
                }
            ]
        }
    )
)
class DutyView(TypedDict):
    """A duty as the API and its events show it: the posting admin's details, the pay computed
    from them (money and hours are JSON numbers) and how many positions are filled."""

    id: str
    title: str
    hospital_name: str
    department: str
    specialty: str
    description: str
    date: CalendarDate
    start_time: WallClock
    end_time: Annotated[WallClock, Field(description="before start_time: the shift wraps midnight")]
    hourly_rate: Annotated[float, Field(gt=0)]
    duration_hours: Annotated[float, Field(gt=0, le=24)]
    total_compensation: Annotated[float, Field(ge=0)]
    platform_fee_percent: Annotated[float, Field(ge=0, le=100)]
    net_payment: Annotated[float, Field(ge=0, description="total_compensation less the fee")]
    positions_needed: Annotated[int, Field(ge=1, le=MAX_POSITIONS)]
    positions_filled: Annotated[int, Field(ge=0, le=MAX_POSITIONS)]
    urgency: Urgency
    location: str
    requirements: RequirementsView
    status: DutyStatus
    posted_by: Annotated[str, Field(description="the user id of the admin who posted it")]
    created_at: Timestamp
    updated_at: Timestamp


@dataclass(frozen=True)
class DutyQuery:
    """Filters of the duty listing; None means any. Text filters match case-insensitively."""

    specialty: str | None = None
    status: DutyStatus | None = None
    urgency: Urgency | None = None
    location: str | None = None
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class Requirements:
    """What an applicant should bring: years of experience and skills."""

    minimum_experience: int = 0
    required_skills: tuple[str, ...] = ()


@dataclass(frozen=True)
class DutyDetails:
    """What the posting admin decides about a duty; times are the hospital's wall clock."""

    title: str
    hospital_name: str
    department: str
    specialty: str
    description: str
    date: date
    start_time: time
    end_time: time
    hourly_rate: Decimal
    positions_needed: int
    urgency: Urgency
    location: str
    requirements: Requirements


@dataclass(frozen=True)
class Duty:
    """A posted duty with its computed pay and how many of its positions are filled."""

    id: str
    details: DutyDetails
    pay: Pay
    status: DutyStatus
    positions_filled: int
    posted_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def post(cls, duty_id: str, details: DutyDetails, *, posted_by: str, now: datetime) -> Duty:
        """A new OPEN duty with no position filled and its pay computed.

        Raises:
            InvalidValue: the date is in the past, start equals end, or the rate is invalid.
        """
        _check_details(details, now)
        return cls(
            id=duty_id,
            details=details,
            pay=compute_pay(details.start_time, details.end_time, details.hourly_rate),
            status=DutyStatus.OPEN,
            positions_filled=0,
            posted_by=posted_by,
            created_at=now,
            updated_at=now,
        )

    @property
    def is_full(self) -> bool:
        """True when every position is taken."""
        return self.positions_filled >= self.details.positions_needed

    def ensure_open(self) -> None:
        """Raises DutyNotOpen unless the duty takes applications."""
        if self.status is not DutyStatus.OPEN:
            raise DutyNotOpen(f"the duty is {self.status}, not OPEN")

    def ensure_position_free(self) -> None:
        """Raises unless an application can be accepted now.

        Raises:
            DutyNotOpen: the duty is not OPEN.
            DutyFull: every position is taken.
        """
        self.ensure_open()
        if self.is_full:
            raise DutyFull("every position of the duty is filled")

    def with_settled_status(self) -> Duty:
        """The status the filled count implies: FILLED when full, OPEN when a position is free;
        CANCELLED stays."""
        if self.status is DutyStatus.CANCELLED:
            return self
        status = DutyStatus.FILLED if self.is_full else DutyStatus.OPEN
        return dataclasses.replace(self, status=status)

    def revise(self, details: DutyDetails, now: datetime) -> Duty:
        """The duty with new details and recomputed pay; only while OPEN.

        Raises:
            DutyNotOpen: the duty is not OPEN.
            InvalidValue: as `post`, or fewer positions than are already filled.
        """
        self.ensure_open()
        _check_details(details, now)
        if details.positions_needed < self.positions_filled:
            raise InvalidValue(
                "positions_needed", f"{self.positions_filled} positions are already filled"
            )
        revised = dataclasses.replace(
            self,
            details=details,
            pay=compute_pay(details.start_time, details.end_time, details.hourly_rate),
            updated_at=now,
        )
        return revised.with_settled_status()

    def cancel(self, now: datetime) -> Duty:
        """The duty CANCELLED.

        Raises:
            DutyNotOpen: it is already cancelled.
        """
        if self.status is DutyStatus.CANCELLED:
            raise DutyNotOpen("the duty is already CANCELLED")
        return dataclasses.replace(self, status=DutyStatus.CANCELLED, updated_at=now)

    def to_json(self) -> DutyView:
        """The duty as the API and its events show it; money and hours are JSON numbers."""
        d = self.details
        return {
            "id": self.id,
            "title": d.title,
            "hospital_name": d.hospital_name,
            "department": d.department,
            "specialty": d.specialty,
            "description": d.description,
            "date": d.date.isoformat(),
            "start_time": d.start_time.strftime("%H:%M"),
            "end_time": d.end_time.strftime("%H:%M"),
            "hourly_rate": float(d.hourly_rate),
            "duration_hours": float(self.pay.duration_hours),
            "total_compensation": float(self.pay.total_compensation),
            "platform_fee_percent": float(self.pay.platform_fee_percent),
            "net_payment": float(self.pay.net_payment),
            "positions_needed": d.positions_needed,
            "positions_filled": self.positions_filled,
            "urgency": d.urgency,
            "location": d.location,
            "requirements": {
                "minimum_experience": d.requirements.minimum_experience,
                "required_skills": list(d.requirements.required_skills),
            },
            "status": self.status,
            "posted_by": self.posted_by,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        }


def _check_details(details: DutyDetails, now: datetime) -> None:
    if details.date < (now - PAST_DATE_SLACK).date():
        raise InvalidValue("date", "must not be in the past")
    if not 1 <= details.positions_needed <= MAX_POSITIONS:
        raise InvalidValue("positions_needed", f"must be from 1 to {MAX_POSITIONS}")
