"""The account entity and its public representation."""

from __future__ import annotations

from nocturnal.auth.domain.users import Role, User
from nocturnal.shared.clock import rfc3339


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
