"""The CloudEvents 1.0 envelope (structured JSON mode) that every Nocturnal event travels in."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Final, Literal

import structlog
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
)

from nocturnal.shared.clock import rfc3339, to_millis, utc_now
from nocturnal.shared.tracing import current_traceparent

__all__ = [
    "CLOUDEVENTS_CONTENT_TYPE",
    "EVENT_NAME_PATTERN",
    "CloudEvent",
    "InvalidEventError",
    "event_type",
    "new_event",
    "parse",
]

CLOUDEVENTS_CONTENT_TYPE: Final = "application/cloudevents+json"
"""Media type of a structured-mode CloudEvent in JSON (CloudEvents JSON Event Format 1.0, §4)."""

EVENT_NAME_PATTERN: Final = r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+"
"""An event name: dot-separated lower-case words, e.g. ``user.registered``, ``auth.tokens_revoked``."""

_TYPE_PREFIX: Final = "nocturnal."
_TYPE_SUFFIX: Final = ".v1"
_NAME_RE: Final = re.compile(rf"^{EVENT_NAME_PATTERN}$")
_SERVICE_PATTERN: Final = r"[a-z][a-z0-9-]*"


class InvalidEventError(ValueError):
    """A body or an argument is not a valid Nocturnal CloudEvent.

    Raised by :func:`parse` for bytes that are not a CloudEvents 1.0 structured JSON event of
    ours, and by :func:`new_event` / :func:`event_type` for a malformed event name.
    """


def event_type(name: str) -> str:
    """Return the CloudEvents ``type`` of the event called ``name``.

    ``"user.registered"`` → ``"nocturnal.user.registered.v1"``.

    Raises:
        InvalidEventError: ``name`` does not match :data:`EVENT_NAME_PATTERN`.
    """
    if not _NAME_RE.fullmatch(name):
        raise InvalidEventError(f"invalid event name {name!r}: expected e.g. 'user.registered'")
    return f"{_TYPE_PREFIX}{name}{_TYPE_SUFFIX}"


class CloudEvent(BaseModel):
    """One domain event: a CloudEvents 1.0 event in structured JSON mode.

    Follows CloudEvents 1.0.2 (core attributes) and its JSON Event Format. Shape on the wire::

        {"specversion": "1.0", "id": "<uuid4>", "source": "/services/<service>",
         "type": "nocturnal.<event name>.v1", "time": "<RFC 3339, UTC, ms, 'Z'>",
         "subject": "<optional>", "datacontenttype": "application/json", "data": {...},
         "traceparent": "<optional W3C trace context>", "requestid": "<optional>"}

    ``traceparent`` (the Distributed Tracing extension) and ``requestid`` are extension
    attributes; absent optional attributes are omitted, never ``null``. Unknown extension
    attributes on input are ignored. Instances are immutable. ``time`` is always converted
    to UTC at millisecond precision and written like every other time of the platform
    (``2026-11-30T22:00:05.123Z``, see :mod:`nocturnal.shared.clock`).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1, max_length=128)
    source: str = Field(pattern=rf"^/services/{_SERVICE_PATTERN}$")
    type: str = Field(pattern=rf"^nocturnal\.{EVENT_NAME_PATTERN}\.v1$")
    time: AwareDatetime = Field(default_factory=utc_now)
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]
    traceparent: str | None = None
    requestid: str | None = None

    @field_validator("time")
    @classmethod
    def _to_utc_millis(cls, value: datetime) -> datetime:
        return to_millis(value)

    @field_serializer("time", when_used="json")
    def _rfc3339(self, value: datetime) -> str:
        return rfc3339(value)

    @property
    def name(self) -> str:
        """The event name, also the AMQP routing key: ``nocturnal.user.registered.v1`` → ``user.registered``."""
        return self.type.removeprefix(_TYPE_PREFIX).removesuffix(_TYPE_SUFFIX)

    @property
    def service(self) -> str:
        """The producing service's name, taken from ``source`` (``/services/auth`` → ``auth``)."""
        return self.source.removeprefix("/services/")

    def to_json(self) -> bytes:
        """Serialize to the structured-mode JSON body (UTF-8 bytes), omitting absent attributes."""
        return self.model_dump_json(exclude_none=True).encode()


def new_event(
    name: str, data: dict[str, Any], *, service: str, subject: str | None = None
) -> CloudEvent:
    """Create an event of ``name`` produced by ``service``, stamped with the current context.

    ``id`` is a fresh UUID4, ``time`` is now (UTC, milliseconds). ``requestid`` comes from the
    structlog contextvar ``request_id`` bound by the HTTP middleware (or by the consumer while
    handling an event), ``traceparent`` from the current span when tracing is on: stored with
    the event (in the outbox), it lets the relay's publish continue the request's trace.
    ``data`` must be JSON-serializable (checked when the event is serialized or stored).

    Raises:
        InvalidEventError: ``name`` or ``service`` is malformed.
    """
    context = structlog.contextvars.get_contextvars()
    try:
        return CloudEvent(
            source=f"/services/{service}",
            type=event_type(name),
            subject=subject,
            data=data,
            requestid=_str_or_none(context.get("request_id")),
            traceparent=current_traceparent(),
        )
    except ValidationError as exc:
        raise InvalidEventError(str(exc)) from exc


def parse(body: bytes) -> CloudEvent:
    """Parse a structured-mode JSON CloudEvent body (as produced by :meth:`CloudEvent.to_json`).

    Raises:
        InvalidEventError: ``body`` is not JSON, or not a CloudEvents 1.0 event of ours (wrong
            ``specversion``, ``source`` or ``type`` shape, missing ``data``, naive ``time``...).
    """
    try:
        return CloudEvent.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidEventError(f"invalid CloudEvent: {exc}") from exc


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
