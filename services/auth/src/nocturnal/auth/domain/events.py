"""The events auth publishes (DESIGN §3) and their exact payloads."""

from __future__ import annotations

from typing import Any

from nocturnal.auth.domain.users import User

USER_REGISTERED = "user.registered"
LOGIN_SUCCEEDED = "user.login_succeeded"
LOGIN_FAILED = "user.login_failed"
TOKENS_REVOKED = "auth.tokens_revoked"

REASON_PASSWORD = "password"
REASON_UNKNOWN_EMAIL = "unknown_email"
REASON_WRONG_PASSWORD = "wrong_password"


def user_registered(user: User) -> dict[str, Any]:
    """`user.registered` data: `{user_id, email, name, role}` (api creates the profile)."""
    return {"user_id": user.id, "email": user.email, "name": user.name, "role": user.role.value}


def login_attempt(user_id: str | None, email_hash: str, ip: str, reason: str) -> dict[str, Any]:
    """`user.login_succeeded` / `user.login_failed` data: `{user_id, email_hash, ip, reason}`.

    `email_hash` is the rate-limit subject of the address, so ratelimit can tighten that
    subject's tier; `user_id` is None when no account has the address.
    """
    return {"user_id": user_id, "email_hash": email_hash, "ip": ip, "reason": reason}


def tokens_revoked(user_id: str, not_before: int) -> dict[str, Any]:
    """`auth.tokens_revoked` data: reject `user_id`'s access tokens issued before `not_before`."""
    return {"user_id": user_id, "not_before": not_before}
