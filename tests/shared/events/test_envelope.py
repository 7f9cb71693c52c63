"""CloudEvents envelope: creation, context stamping, round trip and validation."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
import structlog
from tracing_spans import TRACER, traceparent_of

from nocturnal.shared.events.envelope import (
    CloudEvent,
    InvalidEventError,
    event_type,
    new_event,
    parse,
)


def valid_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/services/auth",
        "type": "nocturnal.user.registered.v1",
        "time": "2026-11-30T10:00:00Z",
        "datacontenttype": "application/json",
        "data": {"user_id": "u1"},
    }
    body.update(overrides)
    return body


def test_new_event_fills_the_cloudevents_attributes() -> None:
    event = new_event("user.registered", {"user_id": "u1"}, service="auth", subject="u1")

    assert event.specversion == "1.0"
    assert uuid.UUID(event.id).version == 4
    assert event.source == "/services/auth"
    assert event.type == "nocturnal.user.registered.v1"
    assert event.name == "user.registered"
    assert event.service == "auth"
    assert event.subject == "u1"
    assert event.datacontenttype == "application/json"
    assert event.data == {"user_id": "u1"}
    assert event.time.tzinfo is not None
    assert event.time.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - event.time).total_seconds()) < 5


def test_new_event_takes_the_request_id_from_the_log_context_and_the_trace_from_the_span() -> None:
    with (
        structlog.contextvars.bound_contextvars(request_id="req-1"),
        TRACER.start_as_current_span("request") as span,
    ):
        event = new_event("auth.tokens_revoked", {"user_id": "u1"}, service="auth")

    assert event.requestid == "req-1"
    assert event.traceparent == traceparent_of(span)


def test_new_event_without_context_has_no_extensions() -> None:
    event = new_event("duty.posted", {}, service="api")

    assert event.requestid is None
    assert event.traceparent is None
    assert set(json.loads(event.to_json())) == {
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "datacontenttype",
        "data",
    }


def test_each_event_gets_a_new_id() -> None:
    ids = {new_event("duty.posted", {}, service="api").id for _ in range(100)}
    assert len(ids) == 100


def test_round_trip_through_json_keeps_every_attribute() -> None:
    with (
        structlog.contextvars.bound_contextvars(request_id="req-2"),
        TRACER.start_as_current_span("request") as span,
    ):
        event = new_event("file.uploaded", {"size": 3, "kind": "document"}, service="upload")

    body = event.to_json()
    parsed = parse(body)

    assert parsed == event
    wire = json.loads(body)
    assert wire["time"].endswith("Z")
    assert wire["requestid"] == "req-2"
    assert wire["traceparent"] == traceparent_of(span)


def test_parse_converts_time_to_utc() -> None:
    event = parse(json.dumps(valid_body(time="2026-11-30T12:00:00+02:00")).encode())

    assert event.time == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert json.loads(event.to_json())["time"] == "2026-11-30T10:00:00.000Z"


def test_parse_ignores_unknown_extension_attributes() -> None:
    event = parse(json.dumps(valid_body(partitionkey="p1")).encode())

    assert event.name == "user.registered"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "empty"),
        (b"not json", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b"\xff\xfe", "not UTF-8"),
        (json.dumps(valid_body(specversion="0.3")).encode(), "wrong specversion"),
        (json.dumps(valid_body(type="user.registered")).encode(), "type without prefix"),
        (json.dumps(valid_body(type="nocturnal.user.registered.v2")).encode(), "unknown version"),
        (json.dumps(valid_body(type="nocturnal.User.v1")).encode(), "malformed name"),
        (json.dumps(valid_body(source="auth")).encode(), "source not /services/<name>"),
        (json.dumps(valid_body(time="2026-11-30T10:00:00")).encode(), "time without offset"),
        (json.dumps(valid_body(time="yesterday")).encode(), "time not RFC 3339"),
        (json.dumps(valid_body(id="")).encode(), "empty id"),
        (json.dumps(valid_body(data="text")).encode(), "data not an object"),
        (json.dumps(valid_body(datacontenttype="text/plain")).encode(), "not JSON data"),
        (json.dumps({k: v for k, v in valid_body().items() if k != "data"}).encode(), "no data"),
        (
            json.dumps({k: v for k, v in valid_body().items() if k != "source"}).encode(),
            "no source",
        ),
    ],
)
def test_parse_rejects_invalid_envelopes(body: bytes, why: str) -> None:
    with pytest.raises(InvalidEventError):
        parse(body)


@pytest.mark.parametrize(
    "name", ["", "user", "User.registered", "user..registered", "user.re-gistered"]
)
def test_new_event_rejects_malformed_names(name: str) -> None:
    with pytest.raises(InvalidEventError):
        new_event(name, {}, service="auth")


def test_new_event_rejects_a_malformed_service_name() -> None:
    with pytest.raises(InvalidEventError):
        new_event("user.registered", {}, service="Auth Service")


def test_event_type_is_versioned_and_prefixed() -> None:
    assert event_type("application.submitted") == "nocturnal.application.submitted.v1"


def test_events_are_immutable() -> None:
    event = new_event("duty.posted", {}, service="api")
    with pytest.raises(ValueError):
        event.subject = "changed"


def test_cloud_event_is_a_pydantic_model_with_defaults() -> None:
    event = CloudEvent(source="/services/api", type="nocturnal.duty.filled.v1", data={"id": "d"})

    assert parse(event.to_json()) == event
