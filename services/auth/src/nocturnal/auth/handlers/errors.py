"""auth's domain and use-case errors as problems: the one table."""

from __future__ import annotations

from nocturnal.auth.domain.tokens import InvalidRefreshToken
from nocturnal.auth.domain.users import (
    AccountGone,
    EmailTaken,
    InvalidCredentials,
    InvalidNewPassword,
    InvalidRegistration,
)
from nocturnal.auth.service_layer.ports import HasherBusy
from nocturnal.shared.http.errors import ProblemOf, ProblemTable

PROBLEMS: ProblemTable = {
    InvalidRegistration: ProblemOf(400, errors=lambda exc: exc.errors),
    InvalidNewPassword: ProblemOf(
        400, errors=lambda exc: [{"field": "new_password", "message": str(exc)}]
    ),
    EmailTaken: ProblemOf(409, "an account with this e-mail address already exists"),
    InvalidCredentials: ProblemOf(401, "the e-mail address or the password is wrong"),
    InvalidRefreshToken: ProblemOf(401, "the refresh token is invalid or expired"),
    AccountGone: ProblemOf(404, "this account no longer exists"),
    HasherBusy: ProblemOf(
        503, "too many sign-ins at once; retry in a moment", headers={"Retry-After": "1"}
    ),
}
"""400 invalid registration or new password, 409 e-mail taken, 401 one answer for bad
credentials (login, and the password a password change or an account deletion asks for again)
and one for bad refresh tokens, 404 an account deleted under a valid token, 503 while hashing
is saturated (DESIGN §2)."""
