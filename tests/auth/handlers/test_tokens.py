"""Access tokens: verified by the shared TokenVerifier over the real JWKS route; bad ones are 401."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auth.support import claims, register
from nocturnal.auth.keys import SIGNING_KEYS
from nocturnal.shared.auth.claims import InvalidToken
from nocturnal.shared.auth.jwks import JwksCache, http_jwks
from nocturnal.shared.auth.revocation import RevocationList
from nocturnal.shared.auth.verifier import TokenVerifier
from nocturnal.shared.breaker import CircuitBreaker

TIME_CLAIMS = ("exp", "iat", "nbf")


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_an_issued_token_verifies_with_the_shared_verifier_over_the_jwks_route(
    client: TestClient,
) -> None:
    body = await register(client, role="nurse")
    async with aiohttp.ClientSession() as session:
        jwks = JwksCache(
            http_jwks(
                session, str(client.make_url("/.well-known/jwks.json")), CircuitBreaker("auth")
            )
        )
        principal = await TokenVerifier(jwks, RevocationList()).verify(body["access_token"])
    assert principal.user_id == body["user"]["id"]
    assert principal.role == "nurse"


async def test_the_jwks_lists_the_ed25519_public_key_with_a_short_cache_lifetime(
    client: TestClient,
) -> None:
    body = await register(client)
    resp = await client.get("/.well-known/jwks.json")
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "public, max-age=60"
    [key] = (await resp.json())["keys"]
    assert key["kid"] == jwt.get_unverified_header(body["access_token"])["kid"]
    assert {k: key[k] for k in ("kty", "crv", "use", "alg")} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "use": "sig",
        "alg": "EdDSA",
    }
    assert "d" not in key


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    changed = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    changed["role"] = "hospital_admin"
    return f"{header}.{b64(changed)}.{signature}"


def unsigned(token: str) -> str:
    header = jwt.get_unverified_header(token)
    _, payload, _ = token.split(".")
    return f"{b64({**header, 'alg': 'none'})}.{payload}."


def hs256(token: str) -> str:
    kid = jwt.get_unverified_header(token)["kid"]
    payload = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(payload, "x" * 32, algorithm="HS256", headers={"kid": kid, "typ": "at+jwt"})


@pytest.mark.parametrize(
    "forge", [tampered, unsigned, hs256, lambda token: token[:-4], lambda _: "not.a.jwt"]
)
async def test_forged_tokens_are_401_with_a_bearer_challenge(
    client: TestClient, forge: Any
) -> None:
    body = await register(client)
    resp = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {forge(body['access_token'])}"}
    )
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": -120, "iat": -1020},
        {"nbf": 600},
        {"aud": "someone-else"},
        {"iss": "someone-else"},
        {"jti": None},
    ],
    ids=["expired", "not-yet-valid", "wrong-audience", "wrong-issuer", "missing-claim"],
)
async def test_tokens_signed_by_the_real_key_but_with_bad_claims_are_401(
    client: TestClient, changes: dict[str, Any]
) -> None:
    body = await register(client)
    key = await client.server.app[SIGNING_KEYS].signing_key()
    now = int(time.time())  # times are seconds from now: a collection-time one would go stale
    changes = {k: now + v if k in TIME_CLAIMS else v for k, v in changes.items()}
    values = claims(body["user"]["id"], **changes)
    resp = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {key.sign(values)}"})
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_token_signed_by_another_key_under_the_real_kid_is_401(
    client: TestClient,
) -> None:
    body = await register(client)
    kid = jwt.get_unverified_header(body["access_token"])["kid"]
    forged = jwt.encode(
        claims(body["user"]["id"]),
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": kid, "typ": "at+jwt"},
    )
    async with aiohttp.ClientSession() as session:
        jwks = JwksCache(
            http_jwks(
                session, str(client.make_url("/.well-known/jwks.json")), CircuitBreaker("auth")
            )
        )
        with pytest.raises(InvalidToken):
            await TokenVerifier(jwks, RevocationList()).verify(forged)
    resp = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert resp.status == 401
