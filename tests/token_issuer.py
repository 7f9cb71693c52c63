"""auth as verifiers see it (DESIGN §2), for tests that stand in for auth: access tokens of
auth's profile, and a `KeyServer` publishing the JWKS and revocation epochs over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nocturnal.shared.auth.claims import (
    ACCESS_TOKEN_TTL_S,
    ALGORITHM,
    AUDIENCE,
    ISSUER,
    TOKEN_TYPE,
)


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


class KeyServer:
    """auth's `/.well-known/jwks.json` and `/v1/revocations` over real HTTP (`serve()`).

    The test controls the key set (`keys`, `add_key`) and the epochs (`revoked`: user id →
    not_before); `fetches` counts JWKS requests; `token()` signs with the first key unless
    told otherwise.
    """

    def __init__(self) -> None:
        self.keys: dict[str, Ed25519PrivateKey] = {}
        self.revoked: dict[str, int] = {}
        self.fetches = 0
        self.base_url = ""
        self.kid = self.add_key()

    @property
    def jwks_url(self) -> str:
        """Where the JWKS is served."""
        return f"{self.base_url}/.well-known/jwks.json"

    def add_key(self) -> str:
        """Publish a new Ed25519 key; its kid."""
        kid = uuid.uuid4().hex
        self.keys[kid] = Ed25519PrivateKey.generate()
        return kid

    def token(
        self,
        user_id: str = "user-1",
        role: str = "doctor",
        *,
        kid: str | None = None,
        **claims: Any,
    ) -> str:
        """An access token of auth's profile for `user_id` with `role`; `claims` replace
        claims (None removes one)."""
        kid = kid or self.kid
        return access_token(self.keys[kid], kid, **{"sub": user_id, "role": role, **claims})

    async def jwks(self, _: web.Request) -> web.Response:
        """GET /.well-known/jwks.json (a little slow, so concurrent fetches overlap)."""
        self.fetches += 1
        await asyncio.sleep(0.01)
        keys = [public_jwk(private, kid) for kid, private in self.keys.items()]
        return web.json_response({"keys": keys})

    async def revocations(self, _: web.Request) -> web.Response:
        """GET /v1/revocations."""
        items = [{"user_id": user, "not_before": at} for user, at in self.revoked.items()]
        return web.json_response({"items": items})

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[KeyServer]:
        """Serve both routes on a free local port (`base_url`) while the context lasts."""
        app = web.Application()
        app.router.add_get("/.well-known/jwks.json", self.jwks)
        app.router.add_get("/v1/revocations", self.revocations)
        async with TestServer(app) as server:
            self.base_url = str(server.make_url("")).rstrip("/")
            yield self
