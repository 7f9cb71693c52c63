"""Request id: taken from the incoming header when well-formed, or made fresh (the W3C trace
context is OpenTelemetry's: `nocturnal.shared.tracing`)."""

from __future__ import annotations

import random
import re

REQUEST_ID_HEADER = "X-Request-ID"

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def request_id_from(header: str | None) -> str:
    """The caller's request id if it is 1-128 chars of `[A-Za-z0-9._-]`, else a new uuid4 hex."""
    if header and _REQUEST_ID.match(header):
        return header
    return _uuid4_hex()


# Request ids are unique, not secret: like OpenTelemetry's RandomIdGenerator they come from
# `random` (seeded from the OS at start), not from a getrandom() system call each.
_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def _uuid4_hex() -> str:
    # What uuid.uuid4().hex looks like (RFC 9562: version 4, variant 10), without a UUID object.
    return f"{random.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET:032x}"
