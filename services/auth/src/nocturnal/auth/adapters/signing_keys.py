"""The signing keys every auth instance shares, in MongoDB (`signing_keys`), sealed at rest."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from bson import Binary
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from nocturnal.auth.domain.signing_keys import KeySealer, PublicSigningKey, SigningKey
from nocturnal.shared.clock import Clock, utc_now
from nocturnal.shared.ids import IdFactory, new_id

COLLECTION = "signing_keys"


class SigningKeyStore:
    """The `SigningKeys`: Ed25519 keys in generations: the newest signs until its `sign_until`, then the next one.

    Record: `{_id: kid, generation, public_key, sealed_private_key, created_at, sign_until,
    verify_until}`. `generation` is unique, so instances that start (or rotate) at the same
    time race on one insert: the loser gets a duplicate-key error and reads the winner's key.
    """

    def __init__(
        self,
        db: AsyncDatabase[Any],
        sealer: KeySealer,
        *,
        lifetime_s: int,
        clock: Clock = utc_now,
        ids: IdFactory = new_id,
    ) -> None:
        self._collection = db[COLLECTION]
        self._sealer = sealer
        self._lifetime_s = lifetime_s
        self._clock = clock
        self._ids = ids
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
        if key is not None and key.signs_at(self._clock()):
            return key
        async with self._lock:
            now = self._clock()
            if self._current is None or not self._current.signs_at(now):
                self._current = await self._newest_or_next(now)
            return self._current

    async def published(self) -> list[PublicSigningKey]:
        """Every key whose tokens may still be valid, newest first (the JWKS)."""
        cursor = self._collection.find({"verify_until": {"$gt": self._clock()}}).sort(
            "generation", DESCENDING
        )
        return [_public(doc) async for doc in cursor]

    async def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The published public keys by `kid`: auth's own `KeyFetch` for its `JwksCache`."""
        return {key.kid: key.public_key for key in await self.published()}

    async def _newest_or_next(self, now: datetime) -> SigningKey:
        while True:
            newest = await self._collection.find_one(sort=[("generation", DESCENDING)])
            if newest is not None and newest["sign_until"] > now:
                return self._signing_key(newest)
            generation = newest["generation"] + 1 if newest else 1
            key = SigningKey.generate(self._ids(), generation, now=now, lifetime_s=self._lifetime_s)
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
