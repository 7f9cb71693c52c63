"""Duty rules: posting, positions filling up and freeing, revising, cancelling."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from nocturnal.api.domain.duties import (
    Duty,
    DutyDetails,
    DutyFull,
    DutyNotOpen,
    DutyStatus,
    Requirements,
    Urgency,
)
from nocturnal.api.domain.errors import InvalidValue

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def details(**changes: object) -> DutyDetails:
    base = DutyDetails(
        title="Night cover",
        hospital_name="St Mary's",
        department="ICU",
        specialty="Critical Care",
        description="",
        date=date(2026, 12, 1),
        start_time=time(22, 0),
        end_time=time(6, 0),
        hourly_rate=Decimal("95.00"),
        positions_needed=2,
        urgency=Urgency.URGENT,
        location="London",
        requirements=Requirements(3, ("ALS",)),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def posted(**changes: object) -> Duty:
    return Duty.post("d1", details(**changes), posted_by="admin", now=NOW)


def test_a_posted_duty_is_open_with_no_position_filled_and_its_pay_computed() -> None:
    duty = posted()
    assert duty.status is DutyStatus.OPEN
    assert duty.positions_filled == 0
    assert duty.pay.total_compensation == Decimal("760.00")
    assert duty.created_at == duty.updated_at == NOW


def test_json_shows_money_and_hours_as_numbers_and_times_as_written() -> None:
    shown = posted().to_json()
    assert shown["hourly_rate"] == 95.0
    assert shown["duration_hours"] == 8.0
    assert shown["total_compensation"] == 760.0
    assert shown["platform_fee_percent"] == 5.0
    assert shown["net_payment"] == 722.0
    assert (shown["date"], shown["start_time"], shown["end_time"]) == (
        "2026-12-01",
        "22:00",
        "06:00",
    )
    assert shown["created_at"] == "2026-11-30T12:00:00.000Z"


def test_a_date_before_yesterday_is_refused_but_yesterday_is_allowed_for_time_zones() -> None:
    assert posted(date=NOW.date() - timedelta(days=1)).status is DutyStatus.OPEN
    with pytest.raises(InvalidValue) as caught:
        posted(date=NOW.date() - timedelta(days=2))
    assert caught.value.field == "date"


@pytest.mark.parametrize("positions", [0, 51])
def test_positions_needed_must_be_1_to_50(positions: int) -> None:
    with pytest.raises(InvalidValue):
        posted(positions_needed=positions)


def test_a_position_is_free_until_all_are_filled() -> None:
    duty = posted()
    duty.ensure_position_free()
    full = dataclasses.replace(duty, positions_filled=2).with_settled_status()
    assert full.status is DutyStatus.FILLED
    with pytest.raises(DutyNotOpen):
        full.ensure_position_free()
    with pytest.raises(DutyFull):
        dataclasses.replace(full, status=DutyStatus.OPEN).ensure_position_free()


def test_freeing_a_position_of_a_filled_duty_reopens_it_but_a_cancelled_one_stays() -> None:
    filled = dataclasses.replace(posted(), positions_filled=2, status=DutyStatus.FILLED)
    reopened = dataclasses.replace(filled, positions_filled=1).with_settled_status()
    assert reopened.status is DutyStatus.OPEN
    cancelled = dataclasses.replace(filled, status=DutyStatus.CANCELLED, positions_filled=1)
    assert cancelled.with_settled_status().status is DutyStatus.CANCELLED


def test_revising_recomputes_pay_and_cannot_go_below_the_filled_positions() -> None:
    duty = dataclasses.replace(posted(), positions_filled=1)
    later = NOW + timedelta(hours=1)
    revised = duty.revise(details(end_time=time(7, 0), positions_needed=1), later)
    assert revised.pay.duration_hours == Decimal("9.00")
    assert revised.status is DutyStatus.FILLED
    assert revised.updated_at == later
    with pytest.raises(InvalidValue) as caught:
        dataclasses.replace(duty, positions_filled=2).revise(details(positions_needed=1), later)
    assert caught.value.field == "positions_needed"


def test_only_an_open_duty_can_be_revised() -> None:
    cancelled = posted().cancel(NOW)
    with pytest.raises(DutyNotOpen):
        cancelled.revise(details(), NOW)


def test_cancelling_twice_is_refused() -> None:
    cancelled = posted().cancel(NOW)
    assert cancelled.status is DutyStatus.CANCELLED
    with pytest.raises(DutyNotOpen):
        cancelled.cancel(NOW)
