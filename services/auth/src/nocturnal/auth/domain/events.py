"""The events auth publishes (DESIGN §3) and their exact payloads."""

from __future__ import annotations

from typing import Any

from nocturnal.auth.domain.users import User
from nocturnal.shared.events.payloads import (
    LoginFailedData,
    LoginSucceededData,
    TokensRevokedData,
    UserRegisteredData,
)

USER_REGISTERED = "user.registered"
LOGIN_SUCCEEDED = "user.login_succeeded"
LOGIN_FAILED = "user.login_failed"
TOKENS_REVOKED = "auth.tokens_revoked"


def user_registered(user: User) -> dict[str, Any]:
    """`user.registered` data: `{user_id, email, name, role}` (api creates the profile)."""
    return UserRegisteredData(
        user_id=user.id, email=user.email, name=user.name, role=user.role.value
    ).to_data()


def login_succeeded(user_id: str, email_hash: str, ip: str) -> dict[str, Any]:
    """`user.login_succeeded` data: `{user_id, email_hash, ip, reason: "password"}`.

    `email_hash` is the rate-limit subject of the address, so ratelimit can forget its failures.
    """
    return LoginSucceededData(
        user_id=user_id, email_hash=email_hash, ip=ip, reason="password"
    ).to_data()


def login_failed(user_id: str | None, email_hash: str, ip: str) -> dict[str, Any]:
    """`user.login_failed` data: `{user_id, email_hash, ip, reason}`.

    `email_hash` is the rate-limit subject of the address, so ratelimit can tighten that
    subject's tier; `user_id` is None when no account has the address (reason
    `unknown_email`), else the password was wrong (`wrong_password`).
    """
    return LoginFailedData(
        user_id=user_id,
        email_hash=email_hash,
        ip=ip,
        reason="unknown_email" if user_id is None else "wrong_password",
    ).to_data()


def tokens_revoked(user_id: str, not_before: int) -> dict[str, Any]:
    """`auth.tokens_revoked` data: reject `user_id`'s access tokens issued before `not_before`."""
    return TokensRevokedData(user_id=user_id, not_before=not_before).to_data()
