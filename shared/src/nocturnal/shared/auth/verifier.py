"""The one access-token verifier (DESIGN §2): a locked policy over the JWKS cache and the
revocation epochs."""

from __future__ import annotations

import re
from typing import Any

import jwt

from nocturnal.shared.auth.claims import (
    ALGORITHM,
    AUDIENCE,
    ISSUER,
    MAX_LEEWAY_S,
    MIN_LEEWAY_S,
    REQUIRED_CLAIMS,
    TOKEN_TYPE,
    InvalidToken,
    Principal,
)
from nocturnal.shared.auth.jwks import JwksCache
from nocturnal.shared.auth.revocation import RevocationList

# RFC 7515 §7.1: three base64url parts (RFC 4648 §5, no padding) joined by dots. Anything else,
# such as header bytes that are not UTF-8 (surrogate escapes), is refused before PyJWT sees it.
_JWS_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", re.ASCII)


class TokenVerifier:
    """The one access-token verifier (locked policy, DESIGN §2).

    Accepts only `alg=EdDSA`, `typ=at+jwt`, a known `kid`, `iss=nocturnal-auth`,
    `aud=nocturnal`, all of iss/aud/sub/role/iat/nbf/exp/jti present, `leeway_s` of clock
    skew, and a token not revoked by the user's revocation epoch.

    The leeway is at least `MIN_LEEWAY_S` (a token granted right after a revocation is dated a
    second or two ahead, see `claims.MAX_EARLY_IAT_S`) and at most `MAX_LEEWAY_S` (60 s).
    """

    def __init__(self, jwks: JwksCache, revocations: RevocationList, *, leeway_s: int = 30) -> None:
        if not MIN_LEEWAY_S <= leeway_s <= MAX_LEEWAY_S:
            raise ValueError(f"leeway must be {MIN_LEEWAY_S}..{MAX_LEEWAY_S} s")
        self.jwks = jwks
        self.revocations = revocations
        self._leeway_s = leeway_s

    async def verify(self, token: str) -> Principal:
        """Verify `token` and return its principal.

        Raises:
            InvalidToken: malformed, wrong algorithm/type, unknown key, bad signature, expired,
                not yet valid, wrong issuer/audience, missing claims, or revoked.
        """
        if not _JWS_COMPACT.fullmatch(token):
            raise InvalidToken("malformed token: not a JWS compact serialization")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from None
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
            raise InvalidToken("wrong token algorithm or type")
        if not isinstance(kid, str):
            raise InvalidToken("token has no key id")
        key = await self.jwks.get(kid)
        if key is None:
            raise InvalidToken(f"unknown key id {kid!r}")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self._leeway_s,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        principal = _principal(claims)
        if self.revocations.is_revoked(principal.user_id, principal.issued_at):
            raise InvalidToken("token revoked")
        return principal


def _principal(claims: dict[str, Any]) -> Principal:
    sub, role, jti, iat = claims["sub"], claims["role"], claims["jti"], claims["iat"]
    if not all(isinstance(v, str) and v for v in (sub, role, jti)) or not isinstance(iat, int):
        raise InvalidToken("claims have the wrong types")
    return Principal(user_id=sub, role=role, token_id=jti, issued_at=iat)
