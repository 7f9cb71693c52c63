"""The one access-token verifier (DESIGN §2): a locked policy over the JWKS cache and the
revocation epochs, with the tokens it verified remembered so a client's next request with the
same token skips the signature check."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

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

VERIFIED_TOKENS = 4096
"""How many verified tokens a verifier remembers (about 1 KiB each)."""


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token whose signature and claims passed: what its next use must still check."""

    principal: Principal
    kid: str
    key: Ed25519PublicKey
    valid_from: int  # the later of iat and nbf, epoch s
    expires_at: int  # exp, epoch s


class TokenVerifier:
    """The one access-token verifier (locked policy, DESIGN §2).

    Accepts only `alg=EdDSA`, `typ=at+jwt`, a known `kid`, `iss=nocturnal-auth`,
    `aud=nocturnal`, all of iss/aud/sub/role/iat/nbf/exp/jti present, `leeway_s` of clock
    skew, and a token not revoked by the user's revocation epoch.

    The leeway is at least `MIN_LEEWAY_S` (a token granted right after a revocation is dated a
    second or two ahead, see `claims.MAX_EARLY_IAT_S`) and at most `MAX_LEEWAY_S` (60 s).

    The last `max_remembered` tokens that passed are remembered by their exact text: a token
    seen again skips the signature check and the claims parsing (the same bytes give the same
    result), while everything that can change between two uses is checked every time — the
    times (`exp`, `nbf`, `iat` against `clock`, epoch seconds, with the leeway), that the JWKS
    cache still holds the very key that verified it (a key replaced under its `kid`, or dropped
    past its grace, sends the token through the full check again), and the revocation epoch.
    """

    def __init__(
        self,
        jwks: JwksCache,
        revocations: RevocationList,
        *,
        leeway_s: int = 30,
        max_remembered: int = VERIFIED_TOKENS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not MIN_LEEWAY_S <= leeway_s <= MAX_LEEWAY_S:
            raise ValueError(f"leeway must be {MIN_LEEWAY_S}..{MAX_LEEWAY_S} s")
        self.jwks = jwks
        self.revocations = revocations
        self._leeway_s = leeway_s
        self._clock = clock
        self._max_remembered = max_remembered
        self._verified: dict[str, _Verified] = {}

    async def verify(self, token: str) -> Principal:
        """Verify `token` and return its principal.

        Raises:
            InvalidToken: malformed, wrong algorithm/type, unknown key, bad signature, expired,
                not yet valid, wrong issuer/audience, missing claims, or revoked.
        """
        verified = self._verified.get(token)
        if verified is None or await self.jwks.get(verified.kid) is not verified.key:
            verified = await self._check_signed(token)
        else:
            self._check_times(verified)
        principal = verified.principal
        if self.revocations.is_revoked(principal.user_id, principal.issued_at):
            raise InvalidToken("token revoked")
        return principal

    async def _check_signed(self, token: str) -> _Verified:
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
        verified = _Verified(
            _principal(claims),
            kid,
            key,
            valid_from=max(int(claims["iat"]), int(claims["nbf"])),
            expires_at=int(claims["exp"]),
        )
        self._check_times(verified)  # PyJWT reads its own clock: this one must agree too
        self._remember(token, verified)
        return verified

    def _check_times(self, verified: _Verified) -> None:
        # PyJWT's rules (api_jwt._validate_exp/_nbf/_iat) on this verifier's clock.
        now = self._clock()
        if verified.expires_at <= now - self._leeway_s:
            raise InvalidToken("Signature has expired")
        if verified.valid_from > now + self._leeway_s:
            raise InvalidToken("The token is not yet valid")

    def _remember(self, token: str, verified: _Verified) -> None:
        if len(self._verified) >= self._max_remembered:
            # The oldest entry goes (dicts keep insertion order): memory stays bounded.
            del self._verified[next(iter(self._verified))]
        self._verified[token] = verified


def _principal(claims: dict[str, Any]) -> Principal:
    sub, role, jti, iat = claims["sub"], claims["role"], claims["jti"], claims["iat"]
    if not all(isinstance(v, str) and v for v in (sub, role, jti)) or not isinstance(iat, int):
        raise InvalidToken("claims have the wrong types")
    return Principal(user_id=sub, role=role, token_id=jti, issued_at=iat)
