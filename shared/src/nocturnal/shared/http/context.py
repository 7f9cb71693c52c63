"""Request id and W3C trace context: parsed from incoming headers or made fresh."""

from __future__ import annotations

import re
import secrets
import uuid

REQUEST_ID_HEADER = "X-Request-ID"
TRACEPARENT_HEADER = "traceparent"

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def request_id_from(header: str | None) -> str:
    """The caller's request id if it is 1-128 chars of `[A-Za-z0-9._-]`, else a new uuid4 hex."""
    if header and _REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


def traceparent_from(header: str | None) -> str:
    """A W3C Trace Context `traceparent` continuing the caller's trace with a new span id.

    A missing or malformed header (or the all-zero ids the spec forbids) starts a new trace.
    """
    span = secrets.token_hex(8)
    match = _TRACEPARENT.match(header or "")
    if match and set(match.group(1)) != {"0"} and set(match.group(2)) != {"0"}:
        return f"00-{match.group(1)}-{span}-{match.group(3)}"
    return f"00-{secrets.token_hex(16)}-{span}-01"
