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


class InvalidNewPassword(ValueError):
    """A password change's new password breaks the rules; `str(exc)` says how (safe to show)."""


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
    """An account. `email` is as typed (for display); `email_canonical` identifies the account.

    `tokens_not_before` is the account's revocation epoch (epoch seconds, 0 if never revoked):
    access tokens issued before it are dead, and tokens granted now are dated no earlier.
    """

    id: str
    email: str
    email_canonical: str
    name: str
    role: Role
    password_hash: str
    created_at: datetime
    tokens_not_before: int = 0

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

    def context_words(self) -> tuple[str, ...]:
        """What a password of this account must not contain: its address, the address's
        local part, its name."""
        return (self.email, self.email.rpartition("@")[0], self.name)

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
    contain the address, its local part or the name (`check_password`).

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


def check_new_password(user: User, new_password: str, *, blocklist: Container[str]) -> None:
    """Check a password change's new (already normalised) password against the registration
    policy, with `user`'s e-mail, its local part and name as the words it must not contain.

    Raises:
        InvalidNewPassword: the new password breaks the policy.
    """
    try:
        check_password(new_password, blocklist=blocklist, context=user.context_words())
    except WeakPassword as exc:
        raise InvalidNewPassword(str(exc)) from None


def check_password_changes(current_password: str, new_password: str) -> None:
    """Refuse a "change" to the current password (both normalised).

    Only once the current password is verified: asked before, the answer would tell whoever
    holds a stolen access token whether a guess is the current password, with no rate limit.

    Raises:
        InvalidNewPassword: the new password is the current one.
    """
    if new_password == current_password:
        raise InvalidNewPassword("must differ from the current password")
