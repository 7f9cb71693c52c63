"""Application rules: who may apply when, and which status moves are allowed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from nocturnal.api.domain.applications import Application, ApplicationStatus, InvalidTransition
from nocturnal.api.domain.duties import (
    Duty,
    DutyDetails,
    DutyNotOpen,
    DutyStatus,
    Requirements,
    Urgency,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DUTY = Duty.post(
    "d1",
    DutyDetails(
        "Night cover", "St Mary's", "ICU", "Critical Care", "", date(2026, 12, 1), time(22, 0),
        time(6, 0), Decimal(95), 1, Urgency.NORMAL, "London", Requirements(),
    ),
    posted_by="admin",
    now=NOW,
)  # fmt: skip
PENDING = Application.submit("a1", DUTY, applicant_id="u1", cover_letter="Hi", now=NOW)


def test_an_application_to_an_open_duty_is_pending() -> None:
    assert PENDING.status is ApplicationStatus.PENDING
    assert PENDING.to_json()["duty_id"] == "d1"


@pytest.mark.parametrize("status", [DutyStatus.FILLED, DutyStatus.CANCELLED])
def test_applying_to_a_duty_that_is_not_open_is_refused(status: DutyStatus) -> None:
    with pytest.raises(DutyNotOpen):
        Application.submit(
            "a2", dataclasses.replace(DUTY, status=status), applicant_id="u1", cover_letter="",
            now=NOW,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("start", "target", "allowed"),
    [
        (ApplicationStatus.PENDING, ApplicationStatus.ACCEPTED, True),
        (ApplicationStatus.PENDING, ApplicationStatus.REJECTED, True),
        (ApplicationStatus.PENDING, ApplicationStatus.WITHDRAWN, True),
        (ApplicationStatus.ACCEPTED, ApplicationStatus.WITHDRAWN, True),
        (ApplicationStatus.ACCEPTED, ApplicationStatus.ACCEPTED, False),
        (ApplicationStatus.ACCEPTED, ApplicationStatus.REJECTED, False),
        (ApplicationStatus.REJECTED, ApplicationStatus.ACCEPTED, False),
        (ApplicationStatus.WITHDRAWN, ApplicationStatus.PENDING, False),
        (ApplicationStatus.PENDING, ApplicationStatus.PENDING, False),
    ],
)
def test_status_moves(start: ApplicationStatus, target: ApplicationStatus, allowed: bool) -> None:
    application = dataclasses.replace(PENDING, status=start)
    if allowed:
        assert application.move_to(target, NOW).status is target
    else:
        with pytest.raises(InvalidTransition):
            application.move_to(target, NOW)
