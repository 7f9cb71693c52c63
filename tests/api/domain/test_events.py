"""api's event payloads speak the domain's values."""

from __future__ import annotations

from event_samples import literal_values

from nocturnal.api.domain.applications import ApplicationStatus
from nocturnal.api.domain.duties import DutyStatus, Urgency
from nocturnal.shared.event_payloads import ApplicationData, DutyData


def test_duty_and_application_states_are_the_domain_states() -> None:
    assert literal_values(DutyData, "status") == {status.value for status in DutyStatus}
    assert literal_values(DutyData, "urgency") == {urgency.value for urgency in Urgency}
    assert literal_values(ApplicationData, "status") == {s.value for s in ApplicationStatus}
