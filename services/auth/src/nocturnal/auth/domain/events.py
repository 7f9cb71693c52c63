"""The events auth publishes (DESIGN §3) and their exact payloads."""

from __future__ import annotations

from nocturnal.auth.domain.users import User
from nocturnal.shared.event_payloads import (
    LoginFailedData,
    LoginSucceededData,
    TokensRevokedData,
    UserRegisteredData,
)
from nocturnal.shared.unit_of_work import DomainEvent

USER_REGISTERED = "user.registered"
LOGIN_SUCCEEDED = "user.login_succeeded"
LOGIN_FAILED = "user.login_failed"
TOKENS_REVOKED = "auth.tokens_revoked"


def user_registered(user: User) -> DomainEvent:
    """`user.registered` `{user_id, email, name, role}` (api creates the profile)."""
    data = UserRegisteredData(
        user_id=user.id, email=user.email, name=user.name, role=user.role.value
    ).to_data()
    return DomainEvent(USER_REGISTERED, data, subject=user.id)


def login_succeeded(user_id: str, email_hash: str, ip: str) -> DomainEvent:
    """`user.login_succeeded` `{user_id, email_hash, ip, reason: password}`; `email_hash` is the
    rate-limit subject of the address, so ratelimit can forget its failures."""
    data = LoginSucceededData(user_id=user_id, email_hash=email_hash, ip=ip, reason="password")
    return DomainEvent(LOGIN_SUCCEEDED, data.to_data(), subject=user_id)


def login_failed(user_id: str | None, email_hash: str, ip: str) -> DomainEvent:
    """`user.login_failed` `{user_id, email_hash, ip, reason}`: `unknown_email` when no account
    has the address (`user_id` None), else `wrong_password`; `email_hash` is the rate-limit
    subject of the address, so ratelimit can tighten it."""
    data = LoginFailedData(
        user_id=user_id,
        email_hash=email_hash,
        ip=ip,
        reason="unknown_email" if user_id is None else "wrong_password",
    )
    return DomainEvent(LOGIN_FAILED, data.to_data())


def tokens_revoked(user_id: str, not_before: int) -> DomainEvent:
    """`auth.tokens_revoked` `{user_id, not_before}`: reject `user_id`'s access tokens issued
    before `not_before` (epoch seconds)."""
    data = TokensRevokedData(user_id=user_id, not_before=not_before).to_data()
    return DomainEvent(TOKENS_REVOKED, data, subject=user_id)
