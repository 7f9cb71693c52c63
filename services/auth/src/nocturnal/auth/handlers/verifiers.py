"""HTTP handlers for what verifiers need: the JWKS and recent revocation epochs."""

from __future__ import annotations

from aiohttp import web

from nocturnal.auth.keys import VERIFICATION
from nocturnal.shared.http.app import json_response

# Short: a verifier meeting an unknown kid refetches, and an HTTP cache must not hide new keys.
JWKS_CACHE_CONTROL = "public, max-age=60"


async def jwks(request: web.Request) -> web.Response:
    """The JWK Set (RFC 7517) of every Ed25519 public key whose tokens may still be valid."""
    keys = await request.app[VERIFICATION].public_keys()
    return json_response(
        {"keys": [key.jwk() for key in keys]}, headers={"Cache-Control": JWKS_CACHE_CONTROL}
    )


async def revocations(request: web.Request) -> web.Response:
    """Internal: revocation epochs `{items: [{user_id, not_before}]}` still in force.

    A verifying instance loads them at start, then follows `auth.tokens_revoked` events.
    """
    items = await request.app[VERIFICATION].revocations()
    return json_response({"items": items}, headers={"Cache-Control": "no-store"})
