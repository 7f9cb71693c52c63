"""The one way every time is written in responses and events (see `nocturnal.shared.clock`)."""

from __future__ import annotations

import re

_RFC3339_MILLIS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def is_rfc3339_millis(value: object) -> bool:
    """True for an RFC 3339 UTC time with exactly three fractional digits: `…T22:00:05.123Z`."""
    return isinstance(value, str) and _RFC3339_MILLIS.fullmatch(value) is not None
