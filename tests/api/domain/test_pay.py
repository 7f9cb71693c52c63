"""Shift length and pay: exact decimals, overnight wrap, half-up rounding to cents."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest

from nocturnal.api.domain.errors import InvalidValue
from nocturnal.api.domain.pay import compute_pay, shift_minutes


def hhmm(text: str) -> time:
    return time.fromisoformat(text)


@pytest.mark.parametrize(
    ("start", "end", "minutes"),
    [
        ("08:00", "16:00", 480),
        ("22:00", "06:00", 480),
        ("07:30", "19:45", 735),
        ("23:59", "00:00", 1),
        ("00:00", "23:59", 1439),
        ("12:00", "11:59", 1439),
    ],
)
def test_shift_minutes_wrap_midnight_when_the_end_is_earlier(
    start: str, end: str, minutes: int
) -> None:
    assert shift_minutes(hhmm(start), hhmm(end)) == minutes


def test_equal_start_and_end_is_refused() -> None:
    with pytest.raises(InvalidValue) as caught:
        shift_minutes(hhmm("08:00"), hhmm("08:00"))
    assert caught.value.field == "end_time"


def test_overnight_shift_pays_eight_hours_less_five_percent() -> None:
    pay = compute_pay(hhmm("22:00"), hhmm("06:00"), Decimal("95.00"))
    assert pay.duration_hours == Decimal("8.00")
    assert pay.total_compensation == Decimal("760.00")
    assert pay.platform_fee_percent == Decimal(5)
    assert pay.net_payment == Decimal("722.00")


def test_fractional_hours_are_paid_exactly() -> None:
    pay = compute_pay(hhmm("07:30"), hhmm("19:45"), Decimal("48.50"))
    assert pay.duration_hours == Decimal("12.25")
    assert pay.total_compensation == Decimal("594.13")  # 594.125 rounds half up
    assert pay.net_payment == Decimal("564.42")  # 564.4235


def test_gross_comes_from_exact_minutes_not_rounded_hours() -> None:
    pay = compute_pay(hhmm("08:00"), hhmm("08:10"), Decimal("100.00"))
    assert pay.duration_hours == Decimal("0.17")
    assert pay.total_compensation == Decimal("16.67")  # 16.666..., not 0.17 x 100


def test_net_rounds_half_up_to_cents() -> None:
    # 1 h at 0.10 = 0.10 gross; 95 % = 0.095 -> 0.10 (half up), never 0.09 (banker's).
    pay = compute_pay(hhmm("09:00"), hhmm("10:00"), Decimal("0.10"))
    assert pay.net_payment == Decimal("0.10")


@pytest.mark.parametrize("rate", ["0", "-1", "10.005", "10000.01", "NaN", "Infinity"])
def test_invalid_hourly_rates_are_refused(rate: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        compute_pay(hhmm("08:00"), hhmm("16:00"), Decimal(rate))
    assert caught.value.field == "hourly_rate"
