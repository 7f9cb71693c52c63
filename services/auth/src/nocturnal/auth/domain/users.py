"""Users: the account entity, its roles and its public representation."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from typing_extensions import TypedDict

from nocturnal.auth.domain.emails import InvalidEmail, check_email
from nocturnal.auth.domain.passwords import WeakPassword, check_password
from nocturnal.shared.clock import Timestamp, rfc3339


class EmailTaken(Exception):
    """Another account already has this canonical e-mail address."""


class InvalidRegistration(ValueError):
    """The registration breaks the rules; `errors` holds `{field, message}` for each field."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


class InvalidCredentials(Exception):
    """Unknown e-mail address or wrong password (one answer for both)."""


class AccountGone(Exception):
    """The account of a still-valid token no longer exists."""


class Role(StrEnum):
    """What a user is on the marketplace."""

    DOCTOR = "doctor"
    NURSE = "nurse"
    HOSPITAL_ADMIN = "hospital_admin"


class UserView(TypedDict):
    """An account as its owner sees it; `email` as typed at registration."""

    id: str
    email: str
    name: str
    role: Role
    created_at: Timestamp


@dataclass(frozen=True)
class User:
    """An account. `email` is as typed (for display); `email_canonical` identifies the account."""

    id: str
    email: str
    email_canonical: str
    name: str
    role: Role
    password_hash: str
    created_at: datetime

    @classmethod
    def new(
        cls,
        user_id: str,
        *,
        email: str,
        email_canonical: str,
        name: str,
        role: Role,
        password_hash: str,
        now: datetime,
    ) -> User:
        """A new account `user_id`, created `now`."""
        return cls(
            id=user_id,
            email=email,
            email_canonical=email_canonical,
            name=name,
            role=role,
            password_hash=password_hash,
            created_at=now,
        )

    def public(self) -> UserView:
        """The API representation `{id, email, name, role, created_at}`."""
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "created_at": rfc3339(self.created_at),
        }


def check_registration(email: str, password: str, name: str, *, blocklist: Container[str]) -> None:
    """Check a new account's e-mail address and (already normalised) password together.

    The password must not be on `blocklist` (breached passwords in `blocklist_form`) nor
    simply the address, its local part or the name.

    Raises:
        InvalidRegistration: with an error for each field that breaks a rule.
    """
    errors: list[dict[str, str]] = []
    try:
        check_email(email)
    except InvalidEmail as exc:
        errors.append({"field": "email", "message": str(exc)})
    local_part = email.rpartition("@")[0]
    try:
        check_password(password, blocklist=blocklist, context=(email, local_part, name))
    except WeakPassword as exc:
        errors.append({"field": "password", "message": str(exc)})
    if errors:
        raise InvalidRegistration(errors)
