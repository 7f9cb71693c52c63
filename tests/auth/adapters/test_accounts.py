"""The auth database on a real MongoDB: its repositories inside units of work, with their
outbox events."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from outbox_only import OutboxOnlyBus
from pymongo.asynchronous.database import AsyncDatabase

from auth.fakes import FakeHasher, FakeSigningKeys, noop_gate
from nocturnal.auth.adapters.accounts import ensure_indexes
from nocturnal.auth.app import mongo_repositories
from nocturnal.auth.domain.tokens import RefreshState, RefreshToken
from nocturnal.auth.domain.users import EmailTaken, Role
from nocturnal.auth.service_layer.accounts import Accounts
from nocturnal.auth.service_layer.ports import Repositories, Tx
from nocturnal.shared.clock import utc_now
from nocturnal.shared.mongo import MongoUnitOfWork

PASSWORD = "correct horse battery stable"


@pytest.fixture
async def uow(db: AsyncDatabase[Any]) -> MongoUnitOfWork[Repositories]:
    await ensure_indexes(db)
    return MongoUnitOfWork(db.client, mongo_repositories(db), OutboxOnlyBus(db, "auth"))


async def test_a_taken_email_stores_neither_user_token_nor_event(
    uow: MongoUnitOfWork[Repositories], db: AsyncDatabase[Any]
) -> None:
    accounts = Accounts(
        uow, FakeHasher(), FakeSigningKeys(), refresh_token_ttl_s=60, blocklist=frozenset()
    )
    await accounts.register(
        "ada@example.org", PASSWORD, name="Ada", role=Role.NURSE, gate=noop_gate
    )
    with pytest.raises(EmailTaken):
        await accounts.register(
            "ADA@example.org", PASSWORD, name="Ada", role=Role.NURSE, gate=noop_gate
        )
    assert await db["users"].count_documents({}) == 1
    assert await db["refresh_tokens"].count_documents({}) == 1
    assert [e["type"] for e in await OutboxOnlyBus(db).pending()] == [
        "nocturnal.user.registered.v1"
    ]


async def test_concurrent_uses_of_one_token_let_exactly_one_win(
    uow: MongoUnitOfWork[Repositories],
) -> None:
    _, token = RefreshToken.issue("u1", family_id="f1", now=utc_now(), ttl_s=60)
    await uow.run(lambda tx: tx.repositories.refresh_tokens.insert(token))

    async def use(tx: Tx) -> bool:
        return await tx.repositories.refresh_tokens.mark_used(token.id, utc_now())

    results = await asyncio.gather(*(uow.run(use) for _ in range(3)))
    assert sorted(results) == [False, False, True]
    stored = await uow.repositories.refresh_tokens.get(token.id)
    assert stored is not None
    assert stored.state(utc_now()) is RefreshState.USED


async def test_an_expired_token_cannot_be_used(uow: MongoUnitOfWork[Repositories]) -> None:
    earlier = utc_now() - timedelta(minutes=5)
    _, token = RefreshToken.issue("u1", family_id="f1", now=earlier, ttl_s=60)
    await uow.run(lambda tx: tx.repositories.refresh_tokens.insert(token))
    assert not await uow.run(
        lambda tx: tx.repositories.refresh_tokens.mark_used(token.id, utc_now())
    )


async def test_revoking_a_family_revokes_every_token_in_it_and_keeps_the_epoch(
    uow: MongoUnitOfWork[Repositories],
) -> None:
    now = utc_now()
    _, token = RefreshToken.issue("u1", family_id="f1", now=now, ttl_s=60)
    _, successor = token.successor(now=now, ttl_s=60)
    _, other_family = RefreshToken.issue("u1", family_id="f2", now=now, ttl_s=60)
    not_before = int(now.timestamp())

    async def revoke(tx: Tx) -> None:
        for stored in (token, successor, other_family):
            await tx.repositories.refresh_tokens.insert(stored)
        await tx.repositories.refresh_tokens.revoke_family("f1", now)
        await tx.repositories.revocations.insert("u1", not_before, now)

    await uow.run(revoke)
    tokens = uow.repositories.refresh_tokens
    for revoked in (token, successor):
        stored = await tokens.get(revoked.id)
        assert stored is not None and stored.state(now) is RefreshState.REVOKED
    untouched = await tokens.get(other_family.id)
    assert untouched is not None and untouched.state(now) is RefreshState.ACTIVE
    revocations = uow.repositories.revocations
    assert await revocations.in_force(not_before) == [{"user_id": "u1", "not_before": not_before}]
    assert await revocations.in_force(not_before + 1) == []


async def registered(accounts: Accounts) -> str:
    grant = await accounts.register(
        "ada@example.org", PASSWORD, name="Ada", role=Role.NURSE, gate=noop_gate
    )
    return grant.user.id


@pytest.fixture
def accounts(uow: MongoUnitOfWork[Repositories]) -> Accounts:
    return Accounts(
        uow, FakeHasher(), FakeSigningKeys(), refresh_token_ttl_s=60, blocklist=frozenset()
    )


async def test_a_grant_is_refused_once_the_epoch_moved_and_an_account_stored_without_one_is_0(
    uow: MongoUnitOfWork[Repositories], db: AsyncDatabase[Any], accounts: Accounts
) -> None:
    user_id = await registered(accounts)
    await db["users"].update_one({"_id": user_id}, {"$unset": {"tokens_not_before": ""}})
    users = uow.repositories.users
    claimed = await users.claim_grant(user_id, tokens_not_before=0)
    assert claimed is not None and claimed.tokens_not_before == 0
    await users.revoke_tokens(user_id, 1_900_000_000, password_hash="new-hash")
    assert await users.claim_grant(user_id, tokens_not_before=0) is None
    claimed = await users.claim_grant(user_id)
    assert claimed is not None
    assert (claimed.tokens_not_before, claimed.password_hash) == (1_900_000_000, "new-hash")
    assert (await db["users"].find_one({"_id": user_id}))["version"] == 3
    await users.delete(user_id)
    assert await users.claim_grant(user_id) is None


async def test_a_rehash_never_overwrites_a_password_changed_meanwhile(
    uow: MongoUnitOfWork[Repositories], accounts: Accounts
) -> None:
    user_id = await registered(accounts)
    users = uow.repositories.users
    await users.revoke_tokens(user_id, 1_900_000_000, password_hash="the new password's hash")
    await users.set_password_hash(user_id, f"hashed:{PASSWORD}", "the old password, rehashed")
    user = await users.by_id(user_id)
    assert user is not None and user.password_hash == "the new password's hash"


async def test_a_user_s_tokens_are_revoked_or_removed_across_families(
    uow: MongoUnitOfWork[Repositories],
) -> None:
    now = utc_now()
    tokens = [RefreshToken.issue("u1", family_id=f, now=now, ttl_s=60)[1] for f in ("f1", "f2")]
    _, stranger = RefreshToken.issue("u2", family_id="f3", now=now, ttl_s=60)
    for token in (*tokens, stranger):
        await uow.run(lambda tx, t=token: tx.repositories.refresh_tokens.insert(t))
    repository = uow.repositories.refresh_tokens
    await repository.revoke_of_user("u1", now)
    for token in tokens:
        stored = await repository.get(token.id)
        assert stored is not None and stored.state(now) is RefreshState.REVOKED
    await repository.delete_of_user("u1")
    assert [await repository.get(t.id) for t in tokens] == [None, None]
    kept = await repository.get(stranger.id)
    assert kept is not None and kept.state(now) is RefreshState.ACTIVE


async def test_a_grant_and_a_revocation_of_one_account_never_overlap_on_mongodb(
    uow: MongoUnitOfWork[Repositories], accounts: Accounts
) -> None:
    """The grant claims the account and holds its transaction open; the revocation, started
    meanwhile, conflicts on the account and runs again after the grant committed, so it sees
    (and revokes) the refresh token the grant stored. Snapshot isolation alone would let it
    miss that token."""
    user_id = await registered(accounts)
    claimed, revocation_attempts = asyncio.Event(), 0
    _, granted = RefreshToken.issue(user_id, family_id="late", now=utc_now(), ttl_s=60)

    async def grant(tx: Tx) -> None:
        assert await tx.repositories.users.claim_grant(user_id) is not None
        claimed.set()
        await asyncio.sleep(0.5)  # the revocation starts now and must wait for this commit
        await tx.repositories.refresh_tokens.insert(granted)

    async def revoke(tx: Tx) -> None:
        nonlocal revocation_attempts
        revocation_attempts += 1
        user = await tx.repositories.users.by_id(user_id)
        assert user is not None
        await tx.repositories.users.revoke_tokens(user_id, user.tokens_not_before + 1)
        await tx.repositories.refresh_tokens.revoke_of_user(user_id, utc_now())

    async def revoke_once_claimed() -> None:
        await claimed.wait()
        await uow.run(revoke)

    await asyncio.gather(uow.run(grant), revoke_once_claimed())
    stored = await uow.repositories.refresh_tokens.get(granted.id)
    assert stored is not None and stored.state(utc_now()) is RefreshState.REVOKED
    assert revocation_attempts > 1


async def test_a_deletion_that_wrote_first_makes_a_concurrent_grant_find_no_account(
    uow: MongoUnitOfWork[Repositories], accounts: Accounts
) -> None:
    user_id = await registered(accounts)
    deleting, claims = asyncio.Event(), []

    async def delete(tx: Tx) -> None:
        await tx.repositories.users.delete(user_id)
        await tx.repositories.refresh_tokens.delete_of_user(user_id)
        deleting.set()
        await asyncio.sleep(0.5)

    async def grant(tx: Tx) -> None:
        claims.append(await tx.repositories.users.claim_grant(user_id))

    async def grant_while_deleting() -> None:
        await deleting.wait()
        await uow.run(grant)

    await asyncio.gather(uow.run(delete), grant_while_deleting())
    assert claims[-1] is None
    assert await uow.repositories.users.by_id(user_id) is None
