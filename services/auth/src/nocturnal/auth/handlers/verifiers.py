"""HTTP handlers for what verifiers need: the JWKS and recent revocation epochs."""

from __future__ import annotations

from aiohttp import web
from typing_extensions import TypedDict

from nocturnal.auth.domain.signing_keys import JsonWebKey
from nocturnal.auth.keys import VERIFICATION
from nocturnal.shared.auth.revocation import RevocationEpoch
from nocturnal.shared.http.app import json_response

# Short: a verifier meeting an unknown kid refetches, and an HTTP cache must not hide new keys.
JWKS_CACHE_CONTROL = "public, max-age=60"


class JwksView(TypedDict):
    """A JWK Set (RFC 7517), newest key first."""

    keys: list[JsonWebKey]


class RevocationsView(TypedDict):
    """The revocation epochs still in force."""

    items: list[RevocationEpoch]


async def jwks(request: web.Request) -> web.Response:
    """The JWK Set (RFC 7517) of every Ed25519 public key whose tokens may still be valid."""
    keys = await request.app[VERIFICATION].public_keys()
    body: JwksView = {"keys": [key.jwk() for key in keys]}
    return json_response(body, headers={"Cache-Control": JWKS_CACHE_CONTROL})


async def revocations(request: web.Request) -> web.Response:
    """Internal: revocation epochs `{items: [{user_id, not_before}]}` still in force.

    A verifying instance loads them at start, then follows `auth.tokens_revoked` events.
    """
    body: RevocationsView = {"items": await request.app[VERIFICATION].revocations()}
    return json_response(body, headers={"Cache-Control": "no-store"})
