"""HTTP handlers of the account routes: register, login, refresh, logout, me, password change
and account deletion."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import ConfigDict, Field, StringConstraints
from typing_extensions import TypedDict

from nocturnal.auth.domain.emails import MAX_ADDRESS_LENGTH
from nocturnal.auth.domain.tokens import TOKEN_TYPE_BEARER
from nocturnal.auth.domain.users import Role, UserView
from nocturnal.auth.keys import ACCOUNTS
from nocturnal.auth.service_layer.accounts import TokenGrant
from nocturnal.auth.service_layer.ports import Gate
from nocturnal.shared.auth.requests import authenticate
from nocturnal.shared.http.app import SETTINGS, json_response
from nocturnal.shared.http.request import SECRET, RequestModel, client_ip, read_json
from nocturnal.shared.ratelimit.requests import enforce

AUTH_POLICY = "auth"
# RFC 6749 §5.1: responses carrying tokens must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_RAW_PASSWORD_LENGTH = 1024

# Passwords are taken exactly as typed: spaces count.
RawPassword = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=1, max_length=MAX_RAW_PASSWORD_LENGTH),
    SECRET,
]
EmailAddress = Annotated[str, Field(min_length=1, max_length=MAX_ADDRESS_LENGTH)]


class Registration(RequestModel):
    """POST /api/auth/register body: the password is taken as typed (15-128 characters after
    NFKC normalisation; not a breached one, nor the address or the name)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "ada@example.org",
                    "password": "night shift at the ward, bed 7",
                    "name": "Ada Lovelace",
                    "role": "doctor",
                }
            ]
        }
    )

    email: EmailAddress
    password: RawPassword
    name: Annotated[str, Field(min_length=1, max_length=100)]
    role: Role


class Credentials(RequestModel):
    """POST /api/auth/login body."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "ada@example.org", "password": "night shift at the ward, bed 7"}]
        }
    )

    email: EmailAddress
    password: RawPassword


class RefreshTokenBody(RequestModel):
    """POST /api/auth/refresh and /api/auth/logout body."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refresh_token": "q3Qn0b2M2oZ8eP0sQmYx1l9Vw4yK7fHc"}]}
    )

    refresh_token: Annotated[str, Field(min_length=1, max_length=256)]


class PasswordChange(RequestModel):
    """POST /api/auth/password body."""

    current_password: RawPassword
    new_password: RawPassword


class AccountDeletion(RequestModel):
    """DELETE /api/auth/me body: the password again, so a stolen access token alone cannot
    delete the account."""

    password: RawPassword


class TokenGrantView(TypedDict):
    """A signed-in user and their tokens: send `access_token` as `Authorization: Bearer`; trade
    `refresh_token` for a new pair before it expires (each refresh token works once)."""

    user: UserView
    access_token: Annotated[str, Field(description="a JWT (EdDSA), valid for expires_in seconds")]
    refresh_token: Annotated[str, Field(description="opaque; rotated on every refresh")]
    token_type: Literal["Bearer"]
    expires_in: Annotated[int, Field(description="seconds the access token is valid")]


async def register(request: web.Request) -> web.Response:
    """Create an account; 201 with the user and a token pair."""
    body = await read_json(request, Registration, max_bytes=_max_bytes(request))
    grant = await request.app[ACCOUNTS].register(
        body.email, body.password, name=body.name, role=body.role, gate=_gate(request)
    )
    return _tokens(grant, status=201)


async def login(request: web.Request) -> web.Response:
    """Exchange e-mail and password for a token pair; one generic 401 for every failure."""
    body = await read_json(request, Credentials, max_bytes=_max_bytes(request))
    grant = await request.app[ACCOUNTS].login(
        body.email, body.password, ip=_ip(request), gate=_gate(request)
    )
    return _tokens(grant)


async def refresh(request: web.Request) -> web.Response:
    """Rotate a refresh token: a new pair; a replayed token revokes its family (401)."""
    body = await read_json(request, RefreshTokenBody, max_bytes=_max_bytes(request))
    return _tokens(await request.app[ACCOUNTS].refresh(body.refresh_token, gate=_gate(request)))


async def logout(request: web.Request) -> web.Response:
    """Revoke the refresh token's family; 204 whether or not the token was known."""
    body = await read_json(request, RefreshTokenBody, max_bytes=_max_bytes(request))
    await request.app[ACCOUNTS].logout(body.refresh_token)
    return web.Response(status=204)


async def me(request: web.Request) -> web.Response:
    """The caller's account `{id, email, name, role, created_at}`."""
    principal = await authenticate(request)
    return json_response((await request.app[ACCOUNTS].account(principal.user_id)).public())


async def change_password(request: web.Request) -> web.Response:
    """Change the caller's password; 204, and every token of the account is revoked (the
    caller signs in again with the new password)."""
    principal = await authenticate(request)
    body = await read_json(request, PasswordChange, max_bytes=_max_bytes(request))
    await request.app[ACCOUNTS].change_password(
        principal.user_id,
        body.current_password,
        body.new_password,
        ip=_ip(request),
        gate=_gate(request),
    )
    return web.Response(status=204, headers=NO_STORE)


async def delete_me(request: web.Request) -> web.Response:
    """Delete the caller's account (its password in the body); 204."""
    principal = await authenticate(request)
    body = await read_json(request, AccountDeletion, max_bytes=_max_bytes(request))
    await request.app[ACCOUNTS].delete_account(
        principal.user_id, body.password, ip=_ip(request), gate=_gate(request)
    )
    return web.Response(status=204, headers=NO_STORE)


def _tokens(grant: TokenGrant, *, status: int = 200) -> web.Response:
    body: TokenGrantView = {
        "user": grant.user.public(),
        "access_token": grant.access_token,
        "refresh_token": grant.refresh_token,
        "token_type": TOKEN_TYPE_BEARER,
        "expires_in": grant.expires_in,
    }
    return json_response(body, status=status, headers=NO_STORE)


def _gate(request: web.Request) -> Gate:
    ip = _ip(request)

    async def gate(subject: str | None) -> None:
        await enforce(request, AUTH_POLICY, ip, subject=subject)

    return gate


def _ip(request: web.Request) -> str:
    return client_ip(request, request.app[SETTINGS].client_ip_header)


def _max_bytes(request: web.Request) -> int:
    return request.app[SETTINGS].max_json_body_bytes
