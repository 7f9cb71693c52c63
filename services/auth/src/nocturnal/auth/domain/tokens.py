"""Access-token claims (RFC 9068 profile) and opaque refresh tokens grouped in rotation families."""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from nocturnal.shared.auth.claims import (
    ACCESS_TOKEN_TTL_S,
    AUDIENCE,
    AUTH_CLOCK_SKEW_S,
    ISSUER,
)

TOKEN_TYPE_BEARER: Final = "Bearer"


class InvalidRefreshToken(Exception):
    """Unknown, used, revoked or expired refresh token (one answer for all)."""


def revocation_epoch(now: datetime, previous: int) -> int:
    """The `not_before` (epoch seconds) of a revocation decided at `now` of a user whose last
    epoch was `previous` (0 if none): every access token granted before `now` is earlier.

    Tokens carry whole seconds (RFC 7519 NumericDate, `iat = floor(grant time)`), so the epoch
    is rounded *up*: `floor(now) + 1` is later than the `iat` of every token granted up to and
    including `now`, even within the same second. `AUTH_CLOCK_SKEW_S` more covers a token
    granted by another auth instance whose clock runs ahead of this one's. An epoch never goes
    back, and a second revocation within the same second still moves it on (`previous + 1`),
    so a token granted between the two is refused too. Tokens granted afterwards are dated at
    the epoch (`issued_at`).
    """
    return max(math.floor(now.timestamp()) + 1 + AUTH_CLOCK_SKEW_S, previous + 1)


def issued_at(now: datetime, not_before: int) -> int:
    """The `iat` of an access token granted at `now` to a user whose revocation epoch is
    `not_before` (0 if none): whole seconds, never before the epoch, so a token granted after
    a revocation survives it (it may be dated up to `claims.MAX_EARLY_IAT_S` ahead)."""
    return max(math.floor(now.timestamp()), not_before)


def access_token_claims(user_id: str, role: str, issued_at: int, token_id: str) -> dict[str, Any]:
    """The claims of access token `token_id` (`jti`) for `user_id`, valid for 15 minutes from
    `issued_at` (epoch seconds, from `issued_at()`)."""
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "role": role,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + ACCESS_TOKEN_TTL_S,
        "jti": token_id,
    }


def refresh_token_id(value: str) -> str:
    """The stored identity of a refresh token: SHA-256 hex of its value (never stored itself)."""
    return hashlib.sha256(value.encode()).hexdigest()


class RefreshState(StrEnum):
    """Where a refresh token is in its life."""

    ACTIVE = "active"
    USED = "used"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class RefreshToken:
    """A stored refresh token (by hash) in a family: one login and all its rotations.

    A token is used once; presenting a used one again means it leaked, so the whole family
    is revoked (OAuth 2.0 Security BCP, RFC 9700 §4.14.2).
    """

    id: str
    family_id: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    @classmethod
    def issue(
        cls, user_id: str, *, family_id: str, now: datetime, ttl_s: int
    ) -> tuple[str, RefreshToken]:
        """A new token of family `family_id` (the opaque value for the client, the record to
        store). The value is 256 random bits: a secret, drawn here rather than passed in."""
        value = secrets.token_urlsafe(32)
        record = cls(
            id=refresh_token_id(value),
            family_id=family_id,
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
        return value, record

    def successor(self, *, now: datetime, ttl_s: int) -> tuple[str, RefreshToken]:
        """The token that replaces this one in the same family."""
        return RefreshToken.issue(self.user_id, now=now, ttl_s=ttl_s, family_id=self.family_id)

    def state(self, now: datetime) -> RefreshState:
        """Revoked beats used beats expired: a replayed token must be noticed even when old."""
        if self.revoked_at is not None:
            return RefreshState.REVOKED
        if self.used_at is not None:
            return RefreshState.USED
        if self.expires_at <= now:
            return RefreshState.EXPIRED
        return RefreshState.ACTIVE
