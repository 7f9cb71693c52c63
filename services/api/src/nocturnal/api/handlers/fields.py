"""Field types of request bodies and query strings: dates, wall-clock times, money, text."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import PlainValidator, StringConstraints, WithJsonSchema

from nocturnal.api.domain.pay import MAX_HOURLY_RATE
from nocturnal.api.domain.profiles import MAX_SKILL_CHARS

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def _iso_date(value: Any) -> dt.date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("must be a date YYYY-MM-DD")
    return dt.date.fromisoformat(value)


def _clock_time(value: Any) -> dt.time:
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise ValueError("must be a time HH:MM (00:00-23:59)")
    return dt.time.fromisoformat(value)


def _amount(value: Any) -> Decimal:
    # A JSON number only; its shortest decimal form, so 95.1 is exactly 95.1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    return Decimal(str(value))


IsoDate = Annotated[
    dt.date,
    PlainValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": f"^{_DATE.pattern}$"}),
]
"""A calendar date written `YYYY-MM-DD`."""

ClockTime = Annotated[
    dt.time,
    PlainValidator(_clock_time),
    WithJsonSchema({"type": "string", "pattern": f"^{_CLOCK.pattern}$"}),
]
"""A wall-clock time written `HH:MM`."""

Amount = Annotated[
    Decimal,
    PlainValidator(_amount),
    WithJsonSchema(
        {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": int(MAX_HOURLY_RATE),
            "description": "at most two decimals",
        }
    ),
]
"""A JSON number read exactly as a Decimal (rules such as cents are the domain's)."""


Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]
"""A required short text (title, hospital, department, location), 1-200 characters."""

Skill = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SKILL_CHARS)]
"""One skill, 1-60 characters."""
