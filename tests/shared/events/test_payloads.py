"""Payload models and the catalogue: one model per event, strict on types, exact on output."""

from __future__ import annotations

from typing import Any

import pytest
from event_samples import SAMPLES, sample_data
from pydantic import ValidationError

from nocturnal.shared.event_payloads import DutyData, FileData, UserRegisteredData
from nocturnal.shared.events import AUDITED, EVENTS, SUBSCRIPTIONS, event_type, payload_model


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_every_catalogued_event_has_a_model_that_writes_back_what_it_read(name: str) -> None:
    data = SAMPLES[name]

    assert payload_model(name).model_validate(data).to_data() == data


def test_the_catalogue_type_is_the_envelope_type() -> None:
    assert all(spec.type == event_type(name) for name, spec in EVENTS.items())


def test_subscriptions_and_the_audit_trail_follow_from_the_catalogue() -> None:
    assert SUBSCRIPTIONS["upload"] == ("user.deleted",)
    assert SUBSCRIPTIONS["ratelimit"] == ("user.login_failed", "user.login_succeeded")
    assert "auth" not in SUBSCRIPTIONS  # auth follows revocations on fan-out queues only
    assert set(AUDITED) == {"auth.tokens_revoked", "ratelimit.tier_changed"}
    assert all(EVENTS[name].fan_out or name in AUDITED for name in AUDITED)


def test_an_unknown_field_is_ignored_on_read_and_never_written() -> None:
    data = {**sample_data("user.registered"), "nickname": "Sam"}

    assert "nickname" not in UserRegisteredData.model_validate(data).to_data()


@pytest.mark.parametrize(
    ("model", "name", "changes"),
    [
        (UserRegisteredData, "user.registered", {"role": "surgeon"}),
        (UserRegisteredData, "user.registered", {"user_id": 7}),
        (UserRegisteredData, "user.registered", {"user_id": ""}),
        (DutyData, "duty.posted", {"positions_needed": "2"}),
        (DutyData, "duty.posted", {"positions_needed": True}),
        (DutyData, "duty.posted", {"hourly_rate": "80.0"}),
        (DutyData, "duty.posted", {"date": "2030-02-30"}),
        (DutyData, "duty.posted", {"date": "15/01/2030"}),
        (DutyData, "duty.posted", {"start_time": "24:00"}),
        (DutyData, "duty.posted", {"created_at": "2030-01-01T08:00:00"}),  # no offset
        (DutyData, "duty.posted", {"created_at": "2030-01-01 08:00:00Z"}),
        (DutyData, "duty.posted", {"updated_at": "2030-13-01T08:00:00Z"}),
        (DutyData, "duty.posted", {"requirements": {"minimum_experience": 1}}),
        (FileData, "file.uploaded", {"sha256": "ABC"}),
        (FileData, "file.uploaded", {"size": 0}),
        (FileData, "file.uploaded", {"content_type": "image/gif"}),
    ],
)
def test_a_payload_off_its_schema_is_refused(
    model: type[Any], name: str, changes: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        model.model_validate({**SAMPLES[name], **changes})


def test_times_are_kept_as_written() -> None:
    data = sample_data("ratelimit.tier_changed", until="2030-01-01T09:00:00+01:00")

    assert data["until"] == "2030-01-01T09:00:00+01:00"


def test_a_failed_login_of_an_unknown_address_has_no_user() -> None:
    data = sample_data("user.login_failed", user_id=None, reason="unknown_email")

    assert data["user_id"] is None
    with pytest.raises(ValidationError):
        sample_data("user.login_succeeded", user_id=None)
