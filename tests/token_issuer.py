"""Access tokens of auth's profile (DESIGN §2) for tests that stand in for auth."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nocturnal.shared.auth.claims import ACCESS_TOKEN_TTL_S, ALGORITHM, AUDIENCE, ISSUER, TOKEN_TYPE


def public_jwk(key: Ed25519PrivateKey, kid: str) -> dict[str, Any]:
    """The JWK (RFC 7517) of `key`'s public half, as auth's JWKS lists it."""
    jwk = jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": ALGORITHM}


def access_token(key: Ed25519PrivateKey, kid: str, *, sub: str, role: str, **overrides: Any) -> str:
    """A signed access token; `overrides` replace claims (None removes one)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "role": role,
        "iat": now,
        "nbf": now,
        "exp": now + ACCESS_TOKEN_TTL_S,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    headers = {"kid": kid, "typ": TOKEN_TYPE}
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers=headers)
