"""Auth's Ed25519 public keys cached by `kid` (RFC 7517 JWK Sets), read from a `KeyFetch`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from nocturnal.shared.auth.claims import ALGORITHM, TOKEN_HORIZON_S
from nocturnal.shared.breaker import CircuitBreaker
from nocturnal.shared.http.client import PEER_FAILURES
from nocturnal.shared.logging import get_logger
from nocturnal.shared.metrics import JWKS_REFRESHES

log = get_logger("auth")


KeyFetch = Callable[[], Awaitable[dict[str, Ed25519PublicKey]]]
"""Reads the currently published Ed25519 public keys by `kid` (raises on failure)."""


def http_jwks(session: aiohttp.ClientSession, jwks_url: str, breaker: CircuitBreaker) -> KeyFetch:
    """A `KeyFetch` reading a JWK Set (RFC 7517) over HTTP: how api and upload find auth's keys,
    through `breaker` (auth's peer breaker).

    The returned callable raises `aiohttp.ClientError`, `TimeoutError`, `BreakerOpen` (auth
    failed just before: not asked) or `ValueError` (not a JWK Set).
    """

    async def fetch() -> dict[str, Ed25519PublicKey]:
        with breaker.guard(PEER_FAILURES):
            async with session.get(jwks_url) as response:
                response.raise_for_status()
                body = await response.json()
        return _parse_jwks(body)

    return fetch


class JwksCache:
    """Ed25519 public keys cached by `kid`, read through `fetch` (auth's JWKS over HTTP, or auth's
    own key store).

    An unknown `kid` triggers a refetch, single-flight (one request at a time) and rate-limited
    (at most one per `min_refetch_s` seconds); the set is also refreshed when older than
    `max_age_s`. A key dropped from the JWKS is kept for `retired_grace_s` seconds (the access
    token lifetime) so tokens it signed stay verifiable until they expire.
    """

    def __init__(
        self,
        fetch: KeyFetch,
        *,
        max_age_s: float = 300.0,
        min_refetch_s: float = 10.0,
        retired_grace_s: float = TOKEN_HORIZON_S,
    ) -> None:
        self._fetch = fetch
        self._max_age_s = max_age_s
        self._min_refetch_s = min_refetch_s
        self._grace_s = retired_grace_s
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._retired_at: dict[str, float] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None

    @property
    def loaded(self) -> bool:
        """True once at least one key has been fetched."""
        return bool(self._keys)

    async def get(self, kid: str) -> Ed25519PublicKey | None:
        """The public key for `kid`; None if the source has none.

        A known key is answered from the cache at once (a stale set is refreshed in the
        background, so a slow or absent source never delays requests); an unknown `kid` waits
        for a (rate-limited) fetch.
        """
        key = self._keys.get(kid)
        if key is None:
            await self.refresh()
            return self._keys.get(kid)
        stale = time.monotonic() - self._fetched_at > self._max_age_s
        if stale and (self._background is None or self._background.done()):
            self._background = asyncio.create_task(self.refresh())
        return key

    async def refresh(self, *, force: bool = False) -> None:
        """Fetch the keys now unless another fetch ran within `min_refetch_s` (or `force`).

        A failed fetch is logged and leaves the cached keys in place.
        """
        waiting_since = time.monotonic()
        async with self._lock:
            now = time.monotonic()
            if self._attempted_at >= waiting_since:
                return  # single flight: another caller fetched while this one waited
            if not force and now - self._attempted_at < self._min_refetch_s:
                return
            self._attempted_at = now
            try:
                fresh = await self._fetch()
            except Exception as exc:  # any source failure: keep verifying with the cached keys
                JWKS_REFRESHES.labels("failed").inc()
                log.warning("key fetch failed", error=repr(exc))
                return
            JWKS_REFRESHES.labels("ok").inc()
            self._replace(fresh, now)

    def _replace(self, fresh: dict[str, Ed25519PublicKey], now: float) -> None:
        for kid in self._keys.keys() - fresh.keys():
            self._retired_at.setdefault(kid, now)
        for kid in fresh:
            self._retired_at.pop(kid, None)
        expired = {k for k, at in self._retired_at.items() if now - at > self._grace_s}
        kept = {k: v for k, v in self._keys.items() if k not in fresh and k not in expired}
        self._keys = {**kept, **fresh}
        for kid in expired:
            self._retired_at.pop(kid, None)
        self._fetched_at = now


def _parse_jwks(document: Any) -> dict[str, Ed25519PublicKey]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set")
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk_dict in document["keys"]:
        if not isinstance(jwk_dict, dict) or jwk_dict.get("crv") != "Ed25519":
            continue
        key = jwt.PyJWK(jwk_dict, algorithm=ALGORITHM).key
        if isinstance(key, Ed25519PublicKey) and isinstance(jwk_dict.get("kid"), str):
            keys[jwk_dict["kid"]] = key
    return keys
