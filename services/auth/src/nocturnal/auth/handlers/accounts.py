"""HTTP handlers of the account routes: register, login, refresh, logout, me."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, StringConstraints

from nocturnal.auth import SERVICE
from nocturnal.auth.adapters.accounts import ACCOUNTS, EmailTaken
from nocturnal.auth.adapters.breached_passwords import PASSWORD_BLOCKLIST
from nocturnal.auth.adapters.passwords import PASSWORD_HASHER, HasherBusy
from nocturnal.auth.adapters.signing_keys import SIGNING_KEYS
from nocturnal.auth.domain import events
from nocturnal.auth.domain.emails import (
    MAX_ADDRESS_LENGTH,
    InvalidEmail,
    canonical_email,
    check_email,
)
from nocturnal.auth.domain.passwords import WeakPassword, check_password, normalize_password
from nocturnal.auth.domain.tokens import (
    TOKEN_TYPE_BEARER,
    RefreshState,
    RefreshToken,
    access_token_claims,
    refresh_token_id,
)
from nocturnal.auth.domain.users import Role, User, utc_now
from nocturnal.auth.settings import AUTH_SETTINGS
from nocturnal.shared.auth import ACCESS_TOKEN_TTL_S, authenticate
from nocturnal.shared.events import new_event
from nocturnal.shared.http.app import json_response
from nocturnal.shared.http.request import RequestModel, client_ip, read_json
from nocturnal.shared.logging import get_logger
from nocturnal.shared.problems import Problem, conflict, not_found, validation_problem
from nocturnal.shared.ratelimit import enforce, subject_hash

AUTH_POLICY = "auth"
# RFC 6749 §5.1: responses carrying tokens must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_RAW_PASSWORD_LENGTH = 1024

# Passwords are taken exactly as typed: spaces count.
RawPassword = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=1, max_length=MAX_RAW_PASSWORD_LENGTH),
]
EmailAddress = Annotated[str, Field(min_length=1, max_length=MAX_ADDRESS_LENGTH)]

log = get_logger("auth")


class Registration(RequestModel):
    """POST /api/auth/register body."""

    email: EmailAddress
    password: RawPassword
    name: Annotated[str, Field(min_length=1, max_length=100)]
    role: Role


class Credentials(RequestModel):
    """POST /api/auth/login body."""

    email: EmailAddress
    password: RawPassword


class RefreshTokenBody(RequestModel):
    """POST /api/auth/refresh and /api/auth/logout body."""

    refresh_token: Annotated[str, Field(min_length=1, max_length=256)]


async def register(request: web.Request) -> web.Response:
    """Create an account; 201 with the user and a token pair."""
    settings = request.app[AUTH_SETTINGS]
    body = await read_json(request, Registration, max_bytes=settings.max_json_body_bytes)
    password = normalize_password(body.password)
    _check_registration(body, password, request.app[PASSWORD_BLOCKLIST])
    email = canonical_email(body.email)
    await enforce(request, AUTH_POLICY, _ip(request), subject=subject_hash(email))
    with _shedding_load():
        password_hash = await request.app[PASSWORD_HASHER].hash(password)
    user = User.new(
        email=body.email,
        email_canonical=email,
        name=body.name,
        role=body.role,
        password_hash=password_hash,
    )
    refresh_value, refresh = RefreshToken.issue(
        user.id, now=user.created_at, ttl_s=settings.refresh_token_ttl_s
    )
    registered = new_event(
        events.USER_REGISTERED, events.user_registered(user), service=SERVICE, subject=user.id
    )
    try:
        await request.app[ACCOUNTS].add_user(user, refresh, [registered])
    except EmailTaken:
        raise conflict("an account with this e-mail address already exists") from None
    return await _token_response(request, user, refresh_value, status=201)


async def login(request: web.Request) -> web.Response:
    """Exchange e-mail and password for a token pair; one generic 401 for every failure."""
    settings = request.app[AUTH_SETTINGS]
    body = await read_json(request, Credentials, max_bytes=settings.max_json_body_bytes)
    email = canonical_email(body.email)
    email_hash = subject_hash(email)
    ip = _ip(request)
    await enforce(request, AUTH_POLICY, ip, subject=email_hash)
    accounts = request.app[ACCOUNTS]
    hasher = request.app[PASSWORD_HASHER]
    user = await accounts.user_by_email(email)
    password = normalize_password(body.password)
    with _shedding_load():
        verified = await hasher.verify(user.password_hash if user else None, password)
    if user is None or not verified:
        data = events.login_failed(user.id if user else None, email_hash, ip)
        await accounts.record([new_event(events.LOGIN_FAILED, data, service=SERVICE)])
        raise Problem(401, "the e-mail address or the password is wrong")
    if hasher.needs_rehash(user.password_hash):
        # Upgrading to the configured costs can wait for a quieter login.
        with contextlib.suppress(HasherBusy):
            await accounts.set_password_hash(user.id, await hasher.hash(password))
    refresh_value, refresh = RefreshToken.issue(
        user.id, now=utc_now(), ttl_s=settings.refresh_token_ttl_s
    )
    data = events.login_succeeded(user.id, email_hash, ip)
    succeeded = new_event(events.LOGIN_SUCCEEDED, data, service=SERVICE, subject=user.id)
    await accounts.add_refresh_token(refresh, [succeeded])
    return await _token_response(request, user, refresh_value)


async def refresh(request: web.Request) -> web.Response:
    """Rotate a refresh token: a new pair; a replayed token revokes its family (401)."""
    settings = request.app[AUTH_SETTINGS]
    body = await read_json(request, RefreshTokenBody, max_bytes=settings.max_json_body_bytes)
    accounts = request.app[ACCOUNTS]
    token = await accounts.refresh_token(refresh_token_id(body.refresh_token))
    subject = subject_hash(token.user_id) if token else None
    await enforce(request, AUTH_POLICY, _ip(request), subject=subject)
    if token is None:
        raise _invalid_refresh_token()
    now = utc_now()
    if token.state(now) is RefreshState.ACTIVE:
        refresh_value, successor = token.successor(now=now, ttl_s=settings.refresh_token_ttl_s)
        user = await accounts.user_by_id(token.user_id)
        if user is not None and await accounts.rotate(token, successor, now):
            return await _token_response(request, user, refresh_value)
        # Lost a race with another presentation of this token: see what that one did.
        token = await accounts.refresh_token(token.id) or token
    if token.state(now) is RefreshState.USED:
        await _revoke_after_reuse(request, token)
    raise _invalid_refresh_token()


async def logout(request: web.Request) -> web.Response:
    """Revoke the refresh token's family; 204 whether or not the token was known."""
    settings = request.app[AUTH_SETTINGS]
    body = await read_json(request, RefreshTokenBody, max_bytes=settings.max_json_body_bytes)
    accounts = request.app[ACCOUNTS]
    token = await accounts.refresh_token(refresh_token_id(body.refresh_token))
    if token is not None:
        await accounts.revoke_family(token, utc_now())
    return web.Response(status=204)


async def me(request: web.Request) -> web.Response:
    """The caller's account `{id, email, name, role, created_at}`."""
    principal = await authenticate(request)
    user = await request.app[ACCOUNTS].user_by_id(principal.user_id)
    if user is None:
        raise not_found("this account no longer exists")
    return json_response(user.public())


def _check_registration(body: Registration, password: str, blocklist: frozenset[str]) -> None:
    errors: list[dict[str, str]] = []
    try:
        check_email(body.email)
    except InvalidEmail as exc:
        errors.append({"field": "email", "message": str(exc)})
    local_part = body.email.rpartition("@")[0]
    try:
        check_password(password, blocklist=blocklist, context=(body.email, local_part, body.name))
    except WeakPassword as exc:
        errors.append({"field": "password", "message": str(exc)})
    if errors:
        raise validation_problem(errors)


async def _token_response(
    request: web.Request, user: User, refresh_value: str, *, status: int = 200
) -> web.Response:
    key = await request.app[SIGNING_KEYS].signing_key()
    body: dict[str, Any] = {
        "user": user.public(),
        "access_token": key.sign(access_token_claims(user.id, user.role.value, utc_now())),
        "refresh_token": refresh_value,
        "token_type": TOKEN_TYPE_BEARER,
        "expires_in": ACCESS_TOKEN_TTL_S,
    }
    return json_response(body, status=status, headers=NO_STORE)


async def _revoke_after_reuse(request: web.Request, token: RefreshToken) -> None:
    now = utc_now()
    not_before = int(now.timestamp())
    revoked = new_event(
        events.TOKENS_REVOKED,
        events.tokens_revoked(token.user_id, not_before),
        service=SERVICE,
        subject=token.user_id,
    )
    await request.app[ACCOUNTS].revoke_family(token, now, not_before=not_before, events=[revoked])
    log.warning("refresh token replayed; family revoked", family_id=token.family_id)


def _invalid_refresh_token() -> Problem:
    return Problem(401, "the refresh token is invalid or expired")


def _ip(request: web.Request) -> str:
    return client_ip(request, request.app[AUTH_SETTINGS].client_ip_header)


@contextmanager
def _shedding_load() -> Iterator[None]:
    try:
        yield
    except HasherBusy:
        raise Problem(
            503,
            "too many sign-ins at once; retry in a moment",
            headers={"Retry-After": "1"},
        ) from None
