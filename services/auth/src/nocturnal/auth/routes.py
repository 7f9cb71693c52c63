"""The auth service's routes: the public ones (through the gateway) and the internal `/v1/*`."""

from __future__ import annotations

from aiohttp import web

from nocturnal.auth import SERVICE
from nocturnal.auth.domain.tokens import InvalidRefreshToken
from nocturnal.auth.domain.users import (
    AccountGone,
    EmailTaken,
    InvalidCredentials,
    InvalidNewPassword,
    InvalidRegistration,
    UserView,
)
from nocturnal.auth.handlers import accounts, verifiers
from nocturnal.auth.handlers.accounts import (
    AUTH_POLICY,
    AccountDeletion,
    Credentials,
    PasswordChange,
    RefreshTokenBody,
    Registration,
    TokenGrantView,
)
from nocturnal.auth.handlers.errors import PROBLEMS
from nocturnal.auth.service_layer.ports import HasherBusy
from nocturnal.shared.http.routes import (
    SIGNED_IN,
    Header,
    Json,
    Reply,
    Route,
    RouteTable,
    add_routes,
)

NO_STORE = {"Cache-Control": Header("`no-store`: tokens must not be cached (RFC 6749 §5.1).")}

ROUTES = RouteTable(
    SERVICE,
    (
        Route(
            "POST",
            "/api/auth/register",
            accounts.register,
            "register",
            Reply(201, "The account, signed in.", TokenGrantView, headers=NO_STORE),
            body=Json(Registration),
            rate_limit=AUTH_POLICY,
            errors=(InvalidRegistration, EmailTaken, HasherBusy),
        ),
        Route(
            "POST",
            "/api/auth/login",
            accounts.login,
            "login",
            Reply(200, "Signed in: a new token pair.", TokenGrantView, headers=NO_STORE),
            body=Json(Credentials),
            rate_limit=AUTH_POLICY,
            errors=(InvalidCredentials, HasherBusy),
        ),
        Route(
            "POST",
            "/api/auth/refresh",
            accounts.refresh,
            "refresh",
            Reply(
                200,
                "A new token pair; the refresh token sent is used up.",
                TokenGrantView,
                headers=NO_STORE,
            ),
            body=Json(RefreshTokenBody),
            rate_limit=AUTH_POLICY,
            errors=(InvalidRefreshToken,),
        ),
        Route(
            "POST",
            "/api/auth/logout",
            accounts.logout,
            "logout",
            Reply(204, "The refresh token's family is revoked (or the token was unknown)."),
            body=Json(RefreshTokenBody),
        ),
        Route(
            "POST",
            "/api/auth/password",
            accounts.change_password,
            "password",
            Reply(
                204,
                "The password is changed; every token of the account is revoked, the one used"
                " for this call included: sign in again with the new password.",
                headers=NO_STORE,
            ),
            body=Json(PasswordChange),
            bearer=SIGNED_IN,
            rate_limit=AUTH_POLICY,
            errors=(InvalidNewPassword, InvalidCredentials, AccountGone, HasherBusy),
        ),
        Route(
            "GET",
            "/api/auth/me",
            accounts.me,
            "me",
            Reply(200, "The caller's account.", UserView),
            bearer=SIGNED_IN,
            errors=(AccountGone,),
        ),
        Route(
            "DELETE",
            "/api/auth/me",
            accounts.delete_me,
            "delete-me",
            Reply(
                204,
                "The account is deleted and every token of it revoked; `user.deleted` tells the"
                " other services to erase its data and files. The e-mail may register again.",
                headers=NO_STORE,
            ),
            body=Json(AccountDeletion),
            bearer=SIGNED_IN,
            rate_limit=AUTH_POLICY,
            errors=(InvalidCredentials, AccountGone, HasherBusy),
        ),
        Route(
            "GET",
            "/.well-known/jwks.json",
            verifiers.jwks,
            "jwks",
            Reply(
                200,
                "The keys access tokens are signed with.",
                verifiers.JwksView,
                headers={"Cache-Control": Header("`public, max-age=60`.")},
            ),
        ),
        Route(
            "GET",
            "/v1/revocations",
            verifiers.revocations,
            "revocations",
            Reply(200, "The epochs in force.", verifiers.RevocationsView),
            internal=True,
        ),
    ),
    PROBLEMS,
)
"""Every auth route."""


def setup_routes(app: web.Application) -> None:
    """Register the public routes (through the gateway) and the internal ones (`/v1/*`)."""
    add_routes(app, ROUTES)
