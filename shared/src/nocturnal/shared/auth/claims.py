"""The access-token profile every service shares (RFC 9068, DESIGN §2): constants and the
verified principal. Pure: no I/O library is imported here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ISSUER = "nocturnal-auth"
AUDIENCE = "nocturnal"
ALGORITHM: Final = "EdDSA"
TOKEN_TYPE = "at+jwt"
ACCESS_TOKEN_TTL_S = 15 * 60
REQUIRED_CLAIMS = ["iss", "aud", "sub", "role", "iat", "nbf", "exp", "jti"]
MAX_LEEWAY_S = 60
TOKEN_HORIZON_S = ACCESS_TOKEN_TTL_S + MAX_LEEWAY_S
"""Seconds a token (or a key, or a revocation epoch) can matter after it was issued."""
AUTH_CLOCK_SKEW_S = 1
"""The most two auth instances' clocks may differ by (NTP keeps them within milliseconds)."""
MAX_EARLY_IAT_S = 1 + AUTH_CLOCK_SKEW_S + 1
"""How far in the future a token's `iat`/`nbf` may be when auth signs it: a token granted just
after a revocation is dated at the revocation epoch, which is rounded up to the next whole second
past the revoking instance's clock plus `AUTH_CLOCK_SKEW_S` (one more second for a second
revocation of the user within the same second)."""
MIN_LEEWAY_S = MAX_EARLY_IAT_S + 2
"""A verifier's leeway must accept such a token at once, with two seconds of clock difference
between auth and the verifier on top."""


class InvalidToken(Exception):
    """The presented access token is not acceptable; `str(exc)` says why (for logs only)."""


@dataclass(frozen=True)
class Principal:
    """The verified caller: `user_id` (sub), `role`, token id (`jti`) and `issued_at` (epoch s)."""

    user_id: str
    role: str
    token_id: str
    issued_at: int
