"""UTC time at MongoDB's millisecond precision, and the one RFC 3339 form every response and event uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from pydantic import WithJsonSchema

Clock = Callable[[], datetime]
"""Reads the current time (aware, UTC). Use cases take one, so tests can fix the time."""


def to_millis(moment: datetime) -> datetime:
    """`moment` (aware) in UTC, truncated to milliseconds: what MongoDB stores, so a stored
    value reads back equal."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utc_now() -> datetime:
    """Now in UTC at millisecond precision (the default `Clock`)."""
    return to_millis(datetime.now(UTC))


def rfc3339(moment: datetime) -> str:
    """`moment` (aware) as an RFC 3339 UTC string with exactly three fractional digits and `Z`:
    `2026-11-30T22:00:05.123Z` (truncated, never rounded, below milliseconds)."""
    return to_millis(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2026-11-30T22:00:05.123Z"]}
    ),
]
"""A time as `rfc3339` writes it, in a response or an event shape (a TypedDict field)."""
