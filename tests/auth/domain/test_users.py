"""The account entity, its public representation, and the registration rules together."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nocturnal.auth.domain.users import InvalidRegistration, Role, User, check_registration

NOW = datetime(2026, 11, 30, 22, 0, 5, 123000, tzinfo=UTC)


def test_public_form_has_exactly_the_api_fields_and_no_hash() -> None:
    user = User.new(
        "u1",
        email="Ada@Example.org",
        email_canonical="ada@example.org",
        name="Ada",
        role=Role.HOSPITAL_ADMIN,
        password_hash="$argon2id$...",
        now=NOW,
    )
    assert user.public() == {
        "id": "u1",
        "email": "Ada@Example.org",
        "name": "Ada",
        "role": "hospital_admin",
        "created_at": "2026-11-30T22:00:05.123Z",
    }


BREACHED = frozenset({"correct horse battery staple"})


def test_a_registration_reports_every_field_that_breaks_a_rule() -> None:
    with pytest.raises(InvalidRegistration) as caught:
        check_registration("not-an-address", "short", "Ada", blocklist=BREACHED)
    assert [error["field"] for error in caught.value.errors] == ["email", "password"]
    with pytest.raises(InvalidRegistration) as caught:
        check_registration(
            "grace.hopper@example.org", "grace.hopper@example.org", "Grace", blocklist=BREACHED
        )
    assert [error["field"] for error in caught.value.errors] == ["password"]
    with pytest.raises(InvalidRegistration) as caught:
        check_registration(
            "grace.hopper@example.org", "Correct Horse Battery Staple", "Grace", blocklist=BREACHED
        )
    assert [error["field"] for error in caught.value.errors] == ["password"]
    check_registration(
        "grace.hopper@example.org", "correct horse battery stable", "Grace", blocklist=BREACHED
    )
