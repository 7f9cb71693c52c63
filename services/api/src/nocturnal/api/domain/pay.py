"""Shift length and pay: exact decimal arithmetic, rounded half-up to cents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from decimal import ROUND_HALF_UP, Decimal

from nocturnal.api.domain.errors import InvalidValue

PLATFORM_FEE_PERCENT = Decimal(5)
CENT = Decimal("0.01")
MINUTES_PER_DAY = 24 * 60
MAX_HOURLY_RATE = Decimal(10_000)


def to_cents(amount: Decimal) -> Decimal:
    """`amount` rounded half-up to two decimals (money, and hours for display)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def shift_minutes(start: time, end: time) -> int:
    """Minutes from `start` to `end`; an end at or before the start is on the next day.

    Raises:
        InvalidValue: start and end are equal (a zero or 24-hour shift is ambiguous).
    """
    if (start.hour, start.minute) == (end.hour, end.minute):
        raise InvalidValue("end_time", "must differ from start_time")
    begin = start.hour * 60 + start.minute
    finish = end.hour * 60 + end.minute
    return (finish - begin) % MINUTES_PER_DAY


def check_hourly_rate(rate: Decimal) -> None:
    """An hourly rate is positive, at most `MAX_HOURLY_RATE` and has at most two decimals.

    Raises:
        InvalidValue: on `hourly_rate` otherwise.
    """
    if not rate.is_finite() or rate <= 0:
        raise InvalidValue("hourly_rate", "must be greater than 0")
    if rate > MAX_HOURLY_RATE:
        raise InvalidValue("hourly_rate", f"must be at most {MAX_HOURLY_RATE}")
    if rate != rate.quantize(CENT):
        raise InvalidValue("hourly_rate", "must have at most two decimals")


@dataclass(frozen=True)
class Pay:
    """What a shift pays: hours, gross, the platform's fee (percent) and the clinician's net."""

    duration_hours: Decimal
    total_compensation: Decimal
    platform_fee_percent: Decimal
    net_payment: Decimal


def compute_pay(start: time, end: time, hourly_rate: Decimal) -> Pay:
    """Pay of a shift from `start` to `end` (wrapping midnight) at `hourly_rate` per hour.

    The gross is computed from the exact minutes, then rounded half-up to cents; the net is
    the gross less `PLATFORM_FEE_PERCENT`, rounded the same way. `duration_hours` is rounded
    to two decimals for display only.

    Raises:
        InvalidValue: equal start and end, or an invalid rate (see `check_hourly_rate`).
    """
    check_hourly_rate(hourly_rate)
    hours = Decimal(shift_minutes(start, end)) / 60
    total = to_cents(hours * hourly_rate)
    net = to_cents(total * (100 - PLATFORM_FEE_PERCENT) / 100)
    return Pay(
        duration_hours=to_cents(hours),
        total_compensation=total,
        platform_fee_percent=PLATFORM_FEE_PERCENT,
        net_payment=net,
    )
