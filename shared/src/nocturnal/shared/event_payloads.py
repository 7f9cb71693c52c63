"""The ``data`` of every catalogued event (DESIGN §3), one pydantic model each: the one source that
publishers build payloads with, consumers validate them against and the AsyncAPI document shows.

Pure: pydantic and the standard library only, so service domains may import it. It sits beside
``nocturnal.shared.events``, not in it: importing anything inside that package runs its
``__init__``, which loads aio-pika and PyMongo.

Conventions of every model:

- strict types: a JSON string is never taken for a number, a number never for a boolean;
- unknown fields are ignored when reading (a tolerant reader: a publisher may add a field within
  ``v1`` before its consumers know it), and never written: :meth:`EventPayload.to_data` emits
  exactly the declared fields;
- times are RFC 3339 strings with an offset, kept as the publisher wrote them (the services
  write UTC with ``Z``), so a payload passes through a model unchanged.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

__all__ = [
    "ApplicationData",
    "DutyData",
    "DutyRequirements",
    "EventPayload",
    "FileData",
    "LoginFailedData",
    "LoginSucceededData",
    "TierChangedData",
    "TokensRevokedData",
    "UserDeletedData",
    "UserRegisteredData",
]

_RFC3339: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


def _rfc3339(value: str) -> str:
    if not _RFC3339.fullmatch(value):
        raise ValueError(
            "expected an RFC 3339 date-time with offset, e.g. 2026-11-30T22:00:05.123Z"
        )
    datetime.fromisoformat(value)  # a well-formed but impossible time (02-30, 25:00) raises
    return value


def _date(value: str) -> str:
    if not _DATE.fullmatch(value):
        raise ValueError("expected an RFC 3339 full-date, e.g. 2026-11-30")
    datetime.strptime(value, "%Y-%m-%d")  # an impossible date (02-30) raises
    return value


Timestamp = Annotated[
    str, AfterValidator(_rfc3339), WithJsonSchema({"type": "string", "format": "date-time"})
]
"""An RFC 3339 date-time with offset (``2026-11-30T22:00:05.123Z``), kept as written."""

CalendarDate = Annotated[
    str, AfterValidator(_date), WithJsonSchema({"type": "string", "format": "date"})
]
"""An RFC 3339 full-date (``2026-11-30``): the hospital's wall-clock date of a duty."""

WallClock = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
"""A wall-clock time ``HH:MM`` (24 h) in the hospital's zone."""

Id = Annotated[str, Field(min_length=1, max_length=128)]
"""An identifier (user, duty, application, file): opaque, non-empty."""

SubjectHash = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
"""A rate-limit subject hash: the first 16 hex digits of a SHA-256 (never the e-mail itself)."""

Role = Literal["doctor", "nurse", "hospital_admin"]
FileKind = Literal["profile-photo", "document"]
MediaType = Literal["image/jpeg", "image/png", "image/webp", "application/pdf"]
Tier = Literal["normal", "strict"]


class EventPayload(BaseModel):
    """Base of every event payload model (the conventions are the module's)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    def to_data(self) -> dict[str, Any]:
        """The CloudEvent ``data`` object: every declared field, JSON-ready, nothing else."""
        return self.model_dump(mode="json")


class UserRegisteredData(EventPayload):
    """``user.registered``: a new account; api creates its profile."""

    user_id: Id
    email: str = Field(description="the address as typed at registration (for display)")
    name: str
    role: Role


class LoginSucceededData(EventPayload):
    """``user.login_succeeded``: a sign-in; ratelimit forgets the subject's failed logins."""

    user_id: Id
    email_hash: SubjectHash = Field(description="the rate-limit subject of the e-mail address")
    ip: str = Field(description="the client address the gateway reported")
    reason: Literal["password"] = Field(description="how the user proved who they are")


class LoginFailedData(EventPayload):
    """``user.login_failed``: a refused sign-in; ratelimit counts it towards the strict tier."""

    user_id: Id | None = Field(description="the account of the address, null when none has it")
    email_hash: SubjectHash = Field(description="the rate-limit subject of the e-mail address")
    ip: str = Field(description="the client address the gateway reported")
    reason: Literal["unknown_email", "wrong_password"]


class TokensRevokedData(EventPayload):
    """``auth.tokens_revoked``: the user's access tokens issued before ``not_before`` are dead."""

    user_id: Id
    not_before: int = Field(ge=0, description="Unix time, seconds: tokens with an earlier iat die")


class UserDeletedData(EventPayload):
    """``user.deleted``: the account is gone; every service erases that user's data and files."""

    user_id: Id


class DutyRequirements(EventPayload):
    """What an applicant should bring."""

    minimum_experience: int = Field(ge=0, description="years")
    required_skills: list[str]


class DutyData(EventPayload):
    """``duty.posted`` / ``duty.updated`` / ``duty.cancelled`` / ``duty.filled``: the duty as
    the API shows it after the change (money in the duty's currency units, hours as numbers)."""

    id: Id
    title: str
    hospital_name: str
    department: str
    specialty: str
    description: str
    date: CalendarDate
    start_time: WallClock
    end_time: WallClock = Field(description="before start_time when the shift wraps midnight")
    hourly_rate: float = Field(ge=0)
    duration_hours: float = Field(gt=0)
    total_compensation: float = Field(ge=0)
    platform_fee_percent: float = Field(ge=0, le=100)
    net_payment: float = Field(ge=0)
    positions_needed: int = Field(ge=1)
    positions_filled: int = Field(ge=0)
    urgency: Literal["NORMAL", "URGENT", "EMERGENCY"]
    location: str
    requirements: DutyRequirements
    status: Literal["OPEN", "FILLED", "CANCELLED"]
    posted_by: Id = Field(description="the hospital admin who posted it")
    created_at: Timestamp
    updated_at: Timestamp


class ApplicationData(EventPayload):
    """``application.submitted`` / ``accepted`` / ``rejected`` / ``withdrawn``: the application
    as the API shows it after the change, with its duty's title and poster (who to notify)."""

    id: Id
    duty_id: Id
    applicant_id: Id
    status: Literal["PENDING", "ACCEPTED", "REJECTED", "WITHDRAWN"]
    cover_letter: str
    created_at: Timestamp
    updated_at: Timestamp
    duty_title: str
    posted_by: Id = Field(description="the hospital admin who posted the duty")


class FileData(EventPayload):
    """``file.uploaded`` / ``file.deleted``: a stored file's metadata (never its bytes or name)."""

    file_id: Id
    owner_id: Id
    kind: FileKind
    content_type: MediaType = Field(description="decided from the magic bytes")
    size: int = Field(ge=1, description="bytes")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the bytes, lower-case hex")


class TierChangedData(EventPayload):
    """``ratelimit.tier_changed``: a subject's tier under a policy until ``until`` (audit)."""

    policy: str
    subject: str
    tier: Tier
    reason: str
    until: Timestamp
