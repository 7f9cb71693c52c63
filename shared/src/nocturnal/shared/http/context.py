"""Request id: taken from the incoming header when well-formed, or made fresh (the W3C trace
context is OpenTelemetry's: `nocturnal.shared.tracing`)."""

from __future__ import annotations

import re
import uuid

REQUEST_ID_HEADER = "X-Request-ID"

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def request_id_from(header: str | None) -> str:
    """The caller's request id if it is 1-128 chars of `[A-Za-z0-9._-]`, else a new uuid4 hex."""
    if header and _REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex
