"""Valid payloads of every catalogued event, for tests that publish or handle events; and the
check that what a service published matches its catalogue entry and payload model."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, get_args

from nocturnal.shared.events import EVENTS, CloudEvent, EventPayload, new_event, payload_model

_DUTY: dict[str, Any] = {
    "id": "d1",
    "title": "Night shift, emergency department",
    "hospital_name": "St. Mary",
    "department": "Emergency",
    "specialty": "emergency_medicine",
    "description": "Cover the night.",
    "date": "2030-01-15",
    "start_time": "22:00",
    "end_time": "06:00",
    "hourly_rate": 80.0,
    "duration_hours": 8.0,
    "total_compensation": 640.0,
    "platform_fee_percent": 5.0,
    "net_payment": 608.0,
    "positions_needed": 2,
    "positions_filled": 0,
    "urgency": "URGENT",
    "location": "Boston",
    "requirements": {"minimum_experience": 2, "required_skills": ["ACLS"]},
    "status": "OPEN",
    "posted_by": "admin-1",
    "created_at": "2030-01-01T08:00:00.000Z",
    "updated_at": "2030-01-01T08:00:00.000Z",
}
_APPLICATION: dict[str, Any] = {
    "id": "a1",
    "duty_id": "d1",
    "applicant_id": "nurse-1",
    "status": "PENDING",
    "cover_letter": "Available all week.",
    "created_at": "2030-01-02T08:00:00.000Z",
    "updated_at": "2030-01-02T08:00:00.000Z",
    "duty_title": "Night shift, emergency department",
    "posted_by": "admin-1",
}
_FILE: dict[str, Any] = {
    "file_id": "f1",
    "owner_id": "u1",
    "kind": "profile-photo",
    "content_type": "image/png",
    "size": 1024,
    "sha256": hashlib.sha256(b"photo").hexdigest(),
}
_LOGIN: dict[str, Any] = {
    "user_id": "u1",
    "email_hash": hashlib.sha256(b"sam@example.com").hexdigest()[:16],
    "ip": "203.0.113.7",
}

SAMPLES: dict[str, dict[str, Any]] = {
    "user.registered": {
        "user_id": "u1",
        "email": "sam@example.com",
        "name": "Sam Taylor",
        "role": "nurse",
    },
    "user.login_succeeded": {**_LOGIN, "reason": "password"},
    "user.login_failed": {**_LOGIN, "reason": "wrong_password"},
    "auth.tokens_revoked": {"user_id": "u1", "not_before": 1_900_000_000},
    "user.deleted": {"user_id": "u1"},
    **{f"duty.{change}": _DUTY for change in ("posted", "updated", "cancelled", "filled")},
    **{
        f"application.{change}": _APPLICATION
        for change in ("submitted", "accepted", "rejected", "withdrawn")
    },
    "file.uploaded": _FILE,
    "file.deleted": _FILE,
    "ratelimit.tier_changed": {
        "policy": "auth",
        "subject": "0123456789abcdef",
        "tier": "strict",
        "reason": "failed logins",
        "until": "2030-01-01T09:00:00Z",
    },
}
"""Event name → a valid `data` object (every catalogued event)."""


def sample_data(name: str, **fields: Any) -> dict[str, Any]:
    """A valid `data` of the event `name`, with `fields` replaced (checked against its model)."""
    return payload_model(name).model_validate({**SAMPLES[name], **fields}).to_data()


def sample_event(
    name: str, *, service: str | None = None, subject: str | None = None, **fields: Any
) -> CloudEvent:
    """A new event `name` with a valid `data` (see `sample_data`), from its catalogue publisher
    unless `service` says otherwise."""
    publisher = service or EVENTS[name].publisher
    return new_event(name, sample_data(name, **fields), service=publisher, subject=subject)


def assert_conforms(published: CloudEvent | Mapping[str, Any]) -> str:
    """Assert that `published` (an event, or its JSON as an outbox entry or message body holds
    it) is a catalogued event, from its catalogued publisher, whose `data` its payload model
    accepts and writes back unchanged (no undeclared field, no value it would convert).
    Returns the event name."""
    event = published if isinstance(published, CloudEvent) else CloudEvent.model_validate(published)
    assert event.name in EVENTS, f"{event.name} is not in the catalogue"
    spec = EVENTS[event.name]
    assert event.type == spec.type
    assert event.service == spec.publisher, f"{event.name} published by {event.service}"
    assert spec.payload.model_validate(event.data).to_data() == event.data, event.data
    return event.name


def literal_values(model: type[EventPayload], field: str) -> set[str]:
    """The values a `Literal` field of a payload model allows (to compare with a domain enum)."""
    return set(get_args(model.model_fields[field].annotation))
