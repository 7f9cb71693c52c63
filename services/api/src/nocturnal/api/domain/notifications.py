"""Notifications: who hears about which duty and application event, and what they read."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict

from nocturnal.api.domain.events import EventName
from nocturnal.shared.clock import Timestamp, rfc3339

# Duty events that concern the people who applied (PENDING or ACCEPTED) rather than the poster.
APPLICANT_DUTY_EVENTS = frozenset({EventName.DUTY_UPDATED, EventName.DUTY_CANCELLED})


@dataclass(frozen=True)
class Notice:
    """Something to tell one user."""

    user_id: str
    message: str


class NotificationView(TypedDict):
    """A notification as its user reads it."""

    id: str
    kind: Annotated[str, Field(description="the event it tells of, e.g. application.accepted")]
    message: str
    duty_id: str | None
    application_id: str | None
    read: bool
    created_at: Timestamp
    read_at: Timestamp | None


@dataclass(frozen=True)
class Notification:
    """A stored notice: `kind` is the event name; `read_at` is None until read."""

    id: str
    user_id: str
    kind: str
    message: str
    duty_id: str | None
    application_id: str | None
    created_at: datetime
    read_at: datetime | None = None

    def to_json(self) -> NotificationView:
        """The notification as the API shows it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "message": self.message,
            "duty_id": self.duty_id,
            "application_id": self.application_id,
            "read": self.read_at is not None,
            "created_at": rfc3339(self.created_at),
            "read_at": rfc3339(self.read_at) if self.read_at else None,
        }


def notifications_for(
    event_id: str,
    name: str,
    data: Mapping[str, Any],
    *,
    at: datetime,
    applicant_ids: Sequence[str] = (),
) -> list[Notification]:
    """The notifications a duty or application event gives rise to, dated `at` (its time).

    `data` is the event's data (see `domain.events`); `applicant_ids` are the users with a live
    application to the duty, for the duty events that concern them. Ids are derived from the
    event id and the recipient, so storing one event's notifications twice changes nothing.
    """
    is_application = name.startswith("application.")
    duty_id = data["duty_id"] if is_application else data["id"]
    application_id = data["id"] if is_application else None
    return [
        Notification(
            id=_notification_id(event_id, notice.user_id),
            user_id=notice.user_id,
            kind=name,
            message=notice.message,
            duty_id=duty_id,
            application_id=application_id,
            created_at=at,
        )
        for notice in _notices(name, data, applicant_ids)
    ]


def _notices(name: str, data: Mapping[str, Any], applicant_ids: Sequence[str]) -> list[Notice]:
    title = data.get("duty_title") or data.get("title") or "a duty"
    match name:
        case EventName.APPLICATION_SUBMITTED:
            return [Notice(data["posted_by"], f"New application for “{title}”.")]
        case EventName.APPLICATION_WITHDRAWN:
            return [Notice(data["posted_by"], f"An applicant withdrew from “{title}”.")]
        case EventName.APPLICATION_ACCEPTED:
            return [Notice(data["applicant_id"], f"You are booked for “{title}”.")]
        case EventName.APPLICATION_REJECTED:
            return [Notice(data["applicant_id"], f"Your application for “{title}” was declined.")]
        case EventName.DUTY_FILLED:
            return [Notice(data["posted_by"], f"“{title}” is fully staffed.")]
        case EventName.DUTY_UPDATED:
            return [Notice(user, f"“{title}” has changed.") for user in applicant_ids]
        case EventName.DUTY_CANCELLED:
            return [Notice(user, f"“{title}” was cancelled.") for user in applicant_ids]
    return []


def _notification_id(event_id: str, user_id: str) -> str:
    return hashlib.sha256(f"{event_id}\x00{user_id}".encode()).hexdigest()[:32]
