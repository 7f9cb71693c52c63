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
from nocturnal.auth.service_layer import Accounts, Repositories, Tx
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
