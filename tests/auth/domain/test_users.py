"""The account entity and its public representation."""

from __future__ import annotations

from datetime import UTC, datetime

from nocturnal.auth.domain.users import Role, User, rfc3339, utc_now


def test_public_form_has_exactly_the_api_fields_and_no_hash() -> None:
    user = User.new(
        email="Ada@Example.org",
        email_canonical="ada@example.org",
        name="Ada",
        role=Role.HOSPITAL_ADMIN,
        password_hash="$argon2id$...",
    )
    public = user.public()
    assert public == {
        "id": user.id,
        "email": "Ada@Example.org",
        "name": "Ada",
        "role": "hospital_admin",
        "created_at": rfc3339(user.created_at),
    }


def test_times_are_rfc3339_utc_with_milliseconds() -> None:
    moment = datetime(2026, 11, 30, 22, 5, 1, 123456, tzinfo=UTC)
    assert rfc3339(moment) == "2026-11-30T22:05:01.123Z"
    assert utc_now().microsecond % 1000 == 0
