"""UTC timestamps at MongoDB's millisecond precision, written as RFC 3339."""

from __future__ import annotations

from datetime import UTC, datetime


def to_millis(moment: datetime) -> datetime:
    """`moment` in UTC, truncated to milliseconds so a stored value reads back unchanged."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utc_now() -> datetime:
    """Now in UTC at millisecond precision."""
    return to_millis(datetime.now(UTC))


def rfc3339(moment: datetime) -> str:
    """`moment` as an RFC 3339 UTC string with milliseconds: `2026-11-30T22:00:00.000Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
