"""The shared key store on a real MongoDB: race-safe creation, rotation, sealing, lookup."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.auth.adapters.signing_keys import COLLECTION, SigningKeyStore
from nocturnal.auth.domain.signing_keys import KeySealer, KeySealingError
from nocturnal.shared.auth.jwks import JwksCache
from nocturnal.shared.clock import utc_now

SECRET = "test-secret-of-at-least-thirty-two-characters"


def store(db: AsyncDatabase[Any], secret: str = SECRET, lifetime_s: int = 3600) -> SigningKeyStore:
    return SigningKeyStore(db, KeySealer(secret), lifetime_s=lifetime_s)


async def test_instances_starting_together_on_an_empty_database_share_one_key(
    db: AsyncDatabase[Any],
) -> None:
    await SigningKeyStore.ensure_indexes(db)
    stores = [store(db) for _ in range(4)]
    keys = await asyncio.gather(*(s.signing_key() for s in stores))
    assert len({key.kid for key in keys}) == 1
    assert await db[COLLECTION].count_documents({}) == 1


async def test_the_private_key_is_stored_sealed(db: AsyncDatabase[Any]) -> None:
    await SigningKeyStore.ensure_indexes(db)
    key = await store(db).signing_key()
    doc = await db[COLLECTION].find_one({"_id": key.kid})
    assert doc is not None
    assert key.private_key.private_bytes_raw() not in bytes(doc["sealed_private_key"])


async def test_another_secret_cannot_open_the_stored_key(db: AsyncDatabase[Any]) -> None:
    await SigningKeyStore.ensure_indexes(db)
    await store(db).signing_key()
    with pytest.raises(KeySealingError):
        await store(db, secret="another-secret-of-at-least-thirty-two-chars").signing_key()


async def test_a_retired_key_is_replaced_by_the_next_generation_and_both_are_published(
    db: AsyncDatabase[Any],
) -> None:
    await SigningKeyStore.ensure_indexes(db)
    keys = store(db)
    first = await keys.signing_key()
    retired = utc_now() - timedelta(seconds=1)
    await db[COLLECTION].update_one({"_id": first.kid}, {"$set": {"sign_until": retired}})
    second = await store(db).signing_key()
    assert second.generation == first.generation + 1
    assert [key.kid for key in await keys.published()] == [second.kid, first.kid]


async def test_keys_whose_tokens_have_all_expired_are_no_longer_published(
    db: AsyncDatabase[Any],
) -> None:
    await SigningKeyStore.ensure_indexes(db)
    keys = store(db)
    first = await keys.signing_key()
    past = utc_now() - timedelta(seconds=1)
    await db[COLLECTION].update_one(
        {"_id": first.kid}, {"$set": {"sign_until": past, "verify_until": past}}
    )
    second = await store(db).signing_key()
    assert [key.kid for key in await keys.published()] == [second.kid]


async def test_local_jwks_finds_a_key_another_instance_just_created(
    db: AsyncDatabase[Any],
) -> None:
    await SigningKeyStore.ensure_indexes(db)
    jwks = JwksCache(store(db).public_keys, min_refetch_s=0)
    assert await jwks.get("unknown") is None
    key = await store(db).signing_key()
    public = await jwks.get(key.kid)
    assert public is not None
    assert public.public_bytes_raw() == key.private_key.public_key().public_bytes_raw()
