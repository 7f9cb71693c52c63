"""The events auth publishes (DESIGN §3) and their exact payloads."""

from __future__ import annotations

from typing import Any

from nocturnal.auth.domain.users import User
from nocturnal.shared.unit_of_work import DomainEvent

USER_REGISTERED = "user.registered"
LOGIN_SUCCEEDED = "user.login_succeeded"
LOGIN_FAILED = "user.login_failed"
TOKENS_REVOKED = "auth.tokens_revoked"

REASON_PASSWORD = "password"
REASON_UNKNOWN_EMAIL = "unknown_email"
REASON_WRONG_PASSWORD = "wrong_password"


def user_registered(user: User) -> DomainEvent:
    """`user.registered` `{user_id, email, name, role}` (api creates the profile)."""
    data = {"user_id": user.id, "email": user.email, "name": user.name, "role": user.role.value}
    return DomainEvent(USER_REGISTERED, data, subject=user.id)


def login_succeeded(user_id: str, email_hash: str, ip: str) -> DomainEvent:
    """`user.login_succeeded` `{user_id, email_hash, ip, reason: password}`."""
    data = _login_attempt(user_id, email_hash, ip, REASON_PASSWORD)
    return DomainEvent(LOGIN_SUCCEEDED, data, subject=user_id)


def login_failed(user_id: str | None, email_hash: str, ip: str) -> DomainEvent:
    """`user.login_failed` `{user_id, email_hash, ip, reason}`: `unknown_email` when no account
    has the address (`user_id` None), else `wrong_password`."""
    reason = REASON_UNKNOWN_EMAIL if user_id is None else REASON_WRONG_PASSWORD
    return DomainEvent(LOGIN_FAILED, _login_attempt(user_id, email_hash, ip, reason))


def tokens_revoked(user_id: str, not_before: int) -> DomainEvent:
    """`auth.tokens_revoked` `{user_id, not_before}`: reject `user_id`'s access tokens issued
    before `not_before` (epoch seconds)."""
    data = {"user_id": user_id, "not_before": not_before}
    return DomainEvent(TOKENS_REVOKED, data, subject=user_id)


def _login_attempt(user_id: str | None, email_hash: str, ip: str, reason: str) -> dict[str, Any]:
    # email_hash is the rate-limit subject of the address, so ratelimit can tighten it.
    return {"user_id": user_id, "email_hash": email_hash, "ip": ip, "reason": reason}
