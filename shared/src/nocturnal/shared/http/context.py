"""Request id and W3C trace context: parsed from incoming headers or made fresh."""

from __future__ import annotations

import random
import re

REQUEST_ID_HEADER = "X-Request-ID"
TRACEPARENT_HEADER = "traceparent"

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def request_id_from(header: str | None) -> str:
    """The caller's request id if it is 1-128 chars of `[A-Za-z0-9._-]`, else a new uuid4 hex."""
    if header and _REQUEST_ID.match(header):
        return header
    return _uuid4_hex()


# Ids of requests and spans are unique, not secret: like OpenTelemetry's RandomIdGenerator they
# come from `random` (seeded from the OS at start), not from a getrandom() system call each.
_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def _uuid4_hex() -> str:
    # What uuid.uuid4().hex looks like (RFC 9562: version 4, variant 10), without a UUID object.
    return f"{random.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"


def _random_hex(bits: int) -> str:
    # W3C Trace Context forbids all-zero ids.
    return f"{random.getrandbits(bits) or 1:0{bits // 4}x}"


def traceparent_from(header: str | None) -> str:
    """A W3C Trace Context `traceparent` continuing the caller's trace with a new span id.

    A missing or malformed header (or the all-zero ids the spec forbids) starts a new trace.
    """
    span = _random_hex(64)
    match = _TRACEPARENT.match(header or "")
    if match and set(match.group(1)) != {"0"} and set(match.group(2)) != {"0"}:
        return f"00-{match.group(1)}-{span}-{match.group(3)}"
    return f"00-{_random_hex(128)}-{span}-01"
