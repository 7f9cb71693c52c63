"""auth's event payloads speak the domain's values."""

from __future__ import annotations

from event_samples import literal_values

from nocturnal.auth.domain.users import Role
from nocturnal.shared.event_payloads import UserRegisteredData


def test_the_roles_of_user_registered_are_the_domain_roles() -> None:
    assert literal_values(UserRegisteredData, "role") == {role.value for role in Role}
