"""The signing keys every auth instance shares, in MongoDB (`signing_keys`), sealed at rest."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from aiohttp import web
from bson import Binary
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from nocturnal.auth.domain.signing_keys import KeySealer, PublicSigningKey, SigningKey
from nocturnal.auth.domain.users import utc_now

COLLECTION = "signing_keys"


class SigningKeyStore:
    """Ed25519 keys in generations: the newest signs until its `sign_until`, then the next one.

    Record: `{_id: kid, generation, public_key, sealed_private_key, created_at, sign_until,
    verify_until}`. `generation` is unique, so instances that start (or rotate) at the same
    time race on one insert: the loser gets a duplicate-key error and reads the winner's key.
    """

    def __init__(self, db: AsyncDatabase[Any], sealer: KeySealer, *, lifetime_s: int) -> None:
        self._collection = db[COLLECTION]
        self._sealer = sealer
        self._lifetime_s = lifetime_s
        self._current: SigningKey | None = None
        self._lock = asyncio.Lock()

    @staticmethod
    async def ensure_indexes(db: AsyncDatabase[Any]) -> None:
        """Create the unique generation index; idempotent."""
        await db[COLLECTION].create_index("generation", unique=True, name="generation_unique")

    async def signing_key(self) -> SigningKey:
        """The key to sign with now, creating the next generation when the newest has retired.

        Raises:
            KeySealingError: the stored key was sealed with another `SIGNING_KEY_SECRET`.
        """
        key = self._current
        if key is not None and key.signs_at(utc_now()):
            return key
        async with self._lock:
            now = utc_now()
            if self._current is None or not self._current.signs_at(now):
                self._current = await self._newest_or_next(now)
            return self._current

    async def published(self) -> list[PublicSigningKey]:
        """Every key whose tokens may still be valid, newest first (the JWKS)."""
        cursor = self._collection.find({"verify_until": {"$gt": utc_now()}}).sort(
            "generation", DESCENDING
        )
        return [_public(doc) async for doc in cursor]

    async def _newest_or_next(self, now: datetime) -> SigningKey:
        while True:
            newest = await self._collection.find_one(sort=[("generation", DESCENDING)])
            if newest is not None and newest["sign_until"] > now:
                return self._signing_key(newest)
            generation = newest["generation"] + 1 if newest else 1
            key = SigningKey.generate(generation, now=now, lifetime_s=self._lifetime_s)
            try:
                await self._collection.insert_one(self._document(key))
            except DuplicateKeyError:
                continue
            return key

    def _document(self, key: SigningKey) -> dict[str, Any]:
        return {
            "_id": key.kid,
            "generation": key.generation,
            "public_key": Binary(key.public().public_key.public_bytes_raw()),
            "sealed_private_key": Binary(self._sealer.seal(key)),
            "created_at": key.created_at,
            "sign_until": key.sign_until,
            "verify_until": key.verify_until,
        }

    def _signing_key(self, doc: dict[str, Any]) -> SigningKey:
        return SigningKey(
            kid=doc["_id"],
            generation=doc["generation"],
            private_key=self._sealer.unseal(doc["_id"], bytes(doc["sealed_private_key"])),
            created_at=doc["created_at"],
            sign_until=doc["sign_until"],
        )


def _public(doc: dict[str, Any]) -> PublicSigningKey:
    public_key = Ed25519PublicKey.from_public_bytes(bytes(doc["public_key"]))
    return PublicSigningKey(doc["_id"], public_key)


class LocalJwks:
    """auth's own view of its JWKS, read from the key store instead of over HTTP.

    Has the interface `TokenVerifier` uses of the shared `JwksCache` (`get`, `refresh`,
    `loaded`): an unknown `kid` (a key another instance just created) reloads the published
    keys, at most once per `min_refetch_s` seconds and one reload at a time.
    """

    def __init__(self, store: SigningKeyStore, *, min_refetch_s: float = 1.0) -> None:
        self._store = store
        self._min_refetch_s = min_refetch_s
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        """True once at least one key has been loaded."""
        return bool(self._keys)

    async def get(self, kid: str) -> Ed25519PublicKey | None:
        """The public key for `kid`, reloading when it is unknown; None if there is none."""
        if kid not in self._keys:
            await self.refresh()
        return self._keys.get(kid)

    async def refresh(self, *, force: bool = False) -> None:
        """Reload the published keys unless a reload ran within `min_refetch_s` (or `force`)."""
        async with self._lock:
            now = time.monotonic()
            if not force and now - self._attempted_at < self._min_refetch_s:
                return
            self._attempted_at = now
            self._keys = {key.kid: key.public_key for key in await self._store.published()}


SIGNING_KEYS = web.AppKey("signing_keys", SigningKeyStore)
