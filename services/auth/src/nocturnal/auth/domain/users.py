"""Users: the account entity, its roles and its public representation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from nocturnal.shared.clock import rfc3339, utc_now


class Role(StrEnum):
    """What a user is on the marketplace."""

    DOCTOR = "doctor"
    NURSE = "nurse"
    HOSPITAL_ADMIN = "hospital_admin"


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
        cls, *, email: str, email_canonical: str, name: str, role: Role, password_hash: str
    ) -> User:
        """A new account with a fresh id, created now."""
        return cls(
            id=uuid.uuid4().hex,
            email=email,
            email_canonical=email_canonical,
            name=name,
            role=role,
            password_hash=password_hash,
            created_at=utc_now(),
        )

    def public(self) -> dict[str, Any]:
        """The API representation `{id, email, name, role, created_at}`."""
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": self.role.value,
            "created_at": rfc3339(self.created_at),
        }
