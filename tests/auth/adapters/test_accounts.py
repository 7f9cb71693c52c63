"""The account store on a real MongoDB: atomic writes with their outbox events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.auth.adapters.accounts import AccountStore, EmailTaken
from nocturnal.auth.domain.tokens import RefreshState, RefreshToken
from nocturnal.auth.domain.users import Role, User
from nocturnal.shared.clock import utc_now
from nocturnal.shared.events import Outbox, new_event


@pytest.fixture
async def accounts(mongo_client: AsyncMongoClient[Any], db: AsyncDatabase[Any]) -> AccountStore:
    await AccountStore.ensure_indexes(db)
    await Outbox(db).ensure_indexes()
    return AccountStore(mongo_client, db, Outbox(db), on_commit=lambda: None)


def new_user(email: str = "ada@example.org") -> User:
    return User.new(
        email=email, email_canonical=email.lower(), name="Ada", role=Role.NURSE, password_hash="h"
    )


async def test_a_taken_email_stores_neither_user_token_nor_event(
    accounts: AccountStore, db: AsyncDatabase[Any]
) -> None:
    first = new_user()
    await accounts.add_user(first, RefreshToken.issue(first.id, now=utc_now(), ttl_s=60)[1], [])
    second = new_user("ADA@example.org")
    token = RefreshToken.issue(second.id, now=utc_now(), ttl_s=60)[1]
    event = new_event("user.registered", {"user_id": second.id}, service="auth")
    with pytest.raises(EmailTaken):
        await accounts.add_user(second, token, [event])
    assert await db["users"].count_documents({}) == 1
    assert await accounts.refresh_token(token.id) is None
    assert await db["outbox"].count_documents({}) == 0


async def test_concurrent_rotations_of_one_token_let_exactly_one_win(
    accounts: AccountStore,
) -> None:
    user = new_user()
    _, token = RefreshToken.issue(user.id, now=utc_now(), ttl_s=60)
    await accounts.add_user(user, token, [])
    successors = [token.successor(now=utc_now(), ttl_s=60)[1] for _ in range(3)]
    results = await asyncio.gather(*(accounts.rotate(token, s, utc_now()) for s in successors))
    assert sorted(results) == [False, False, True]
    stored = await accounts.refresh_token(token.id)
    assert stored is not None
    assert stored.state(utc_now()) is RefreshState.USED


async def test_revoking_a_family_revokes_every_token_in_it_and_keeps_the_epoch(
    accounts: AccountStore,
) -> None:
    user = new_user()
    _, token = RefreshToken.issue(user.id, now=utc_now(), ttl_s=60)
    await accounts.add_user(user, token, [])
    _, successor = token.successor(now=utc_now(), ttl_s=60)
    assert await accounts.rotate(token, successor, utc_now())
    _, other_family = RefreshToken.issue(user.id, now=utc_now(), ttl_s=60)
    await accounts.add_refresh_token(other_family, [])
    not_before = int(utc_now().timestamp())
    await accounts.revoke_family(token, utc_now(), not_before=not_before)
    for revoked in (token, successor):
        stored = await accounts.refresh_token(revoked.id)
        assert stored is not None and stored.state(utc_now()) is RefreshState.REVOKED
    untouched = await accounts.refresh_token(other_family.id)
    assert untouched is not None and untouched.state(utc_now()) is RefreshState.ACTIVE
    assert await accounts.revocations_in_force() == [{"user_id": user.id, "not_before": not_before}]
