"""auth's domain and use-case errors as problems: the one table."""

from __future__ import annotations

from collections.abc import Mapping

from nocturnal.auth.domain.tokens import InvalidRefreshToken
from nocturnal.auth.domain.users import (
    AccountGone,
    EmailTaken,
    InvalidCredentials,
    InvalidNewPassword,
    InvalidRegistration,
)
from nocturnal.auth.service_layer.ports import HasherBusy
from nocturnal.shared.http.errors import ProblemOf
from nocturnal.shared.problems import Problem, conflict, not_found, validation_problem

PROBLEMS: Mapping[type[Exception], ProblemOf] = {
    InvalidRegistration: lambda exc: validation_problem(exc.errors),
    InvalidNewPassword: lambda exc: validation_problem(
        [{"field": "new_password", "message": str(exc)}]
    ),
    EmailTaken: lambda _: conflict("an account with this e-mail address already exists"),
    InvalidCredentials: lambda _: Problem(401, "the e-mail address or the password is wrong"),
    InvalidRefreshToken: lambda _: Problem(401, "the refresh token is invalid or expired"),
    AccountGone: lambda _: not_found("this account no longer exists"),
    HasherBusy: lambda _: Problem(
        503,
        "too many sign-ins at once; retry in a moment",
        headers={"Retry-After": "1"},
    ),
}
"""400 invalid registration or new password, 409 e-mail taken, 401 one answer for bad
credentials (login, and the password a password change or an account deletion asks for again)
and one for bad refresh tokens, 404 an account deleted under a valid token, 503 while hashing
is saturated (DESIGN §2)."""
