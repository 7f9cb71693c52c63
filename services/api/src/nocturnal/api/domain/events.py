"""The events api consumes and publishes, and the payloads of the ones it publishes."""

from __future__ import annotations

from enum import StrEnum

from nocturnal.api.domain.applications import Application
from nocturnal.api.domain.duties import Duty
from nocturnal.shared.event_payloads import ApplicationData, DutyData
from nocturnal.shared.unit_of_work import DomainEvent


class EventName(StrEnum):
    """Event names (= AMQP routing keys) api deals with (DESIGN §3)."""

    USER_REGISTERED = "user.registered"
    USER_DELETED = "user.deleted"
    FILE_UPLOADED = "file.uploaded"
    FILE_DELETED = "file.deleted"
    DUTY_POSTED = "duty.posted"
    DUTY_UPDATED = "duty.updated"
    DUTY_CANCELLED = "duty.cancelled"
    DUTY_FILLED = "duty.filled"
    APPLICATION_SUBMITTED = "application.submitted"
    APPLICATION_ACCEPTED = "application.accepted"
    APPLICATION_REJECTED = "application.rejected"
    APPLICATION_WITHDRAWN = "application.withdrawn"


def duty_event(name: EventName, duty: Duty) -> DomainEvent:
    """`duty.*` with the duty as the API shows it."""
    data = DutyData.model_validate(duty.to_json()).to_data()
    return DomainEvent(name, data, subject=f"duties/{duty.id}")


def application_event(name: EventName, application: Application, duty: Duty) -> DomainEvent:
    """`application.*` with the application plus its duty's `duty_title` and `posted_by`."""
    data = ApplicationData.model_validate(
        {**application.to_json(), "duty_title": duty.details.title, "posted_by": duty.posted_by}
    ).to_data()
    return DomainEvent(name, data, subject=f"applications/{application.id}")
