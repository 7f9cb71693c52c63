"""In-memory repositories, hasher, signing keys and rate-limit gate of auth, for unit tests."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from fakes import START, Clock, FakeUnitOfWork, Ids

from nocturnal.auth.domain.signing_keys import PublicSigningKey, SigningKey
from nocturnal.auth.domain.tokens import RefreshState, RefreshToken
from nocturnal.auth.domain.users import EmailTaken, User
from nocturnal.auth.service_layer import Accounts, HasherBusy, Repositories, Verification


class FakeUsers:
    """`UserRepository` in a dict, unique by canonical e-mail."""

    def __init__(self) -> None:
        self.stored: dict[str, User] = {}

    async def insert(self, user: User) -> None:
        if any(u.email_canonical == user.email_canonical for u in self.stored.values()):
            raise EmailTaken
        self.stored[user.id] = user

    async def by_id(self, user_id: str) -> User | None:
        return self.stored.get(user_id)

    async def by_email(self, email_canonical: str) -> User | None:
        return next((u for u in self.stored.values() if u.email_canonical == email_canonical), None)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self.stored[user_id] = dataclasses.replace(
            self.stored[user_id], password_hash=password_hash
        )


class FakeRefreshTokens:
    """`RefreshTokenRepository` in a dict."""

    def __init__(self) -> None:
        self.stored: dict[str, RefreshToken] = {}

    async def insert(self, token: RefreshToken) -> None:
        self.stored[token.id] = token

    async def get(self, token_id: str) -> RefreshToken | None:
        return self.stored.get(token_id)

    async def mark_used(self, token_id: str, now: datetime) -> bool:
        token = self.stored.get(token_id)
        if token is None or token.state(now) is not RefreshState.ACTIVE:
            return False
        self.stored[token_id] = dataclasses.replace(token, used_at=now)
        return True

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        for key, token in self.stored.items():
            if token.family_id == family_id and token.revoked_at is None:
                self.stored[key] = dataclasses.replace(token, revoked_at=now)


class FakeRevocations:
    """`RevocationRepository` in a list."""

    def __init__(self) -> None:
        self.stored: list[dict[str, Any]] = []

    async def insert(self, user_id: str, not_before: int, now: datetime) -> None:
        self.stored.append({"user_id": user_id, "not_before": not_before})

    async def in_force(self, since: int) -> list[dict[str, Any]]:
        return [r for r in self.stored if r["not_before"] >= since]


class FakeHasher:
    """`PasswordHasher` without the cost: `busy` refuses every hash; `weak` hashes need a
    rehash; `verifications` counts the calls (unknown accounts included)."""

    def __init__(self) -> None:
        self.busy = False
        self.weak: set[str] = set()
        self.verifications = 0

    async def hash(self, password: str) -> str:
        if self.busy:
            raise HasherBusy
        return f"hashed:{password}"

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self.verifications += 1
        if self.busy:
            raise HasherBusy
        return password_hash == f"hashed:{password}"

    def needs_rehash(self, password_hash: str) -> bool:
        return password_hash in self.weak


class FakeSigningKeys:
    """`SigningKeys` with one real Ed25519 key."""

    def __init__(self) -> None:
        self.key = SigningKey.generate("kid-1", 1, now=START, lifetime_s=30 * 24 * 3600)

    async def signing_key(self) -> SigningKey:
        return self.key

    async def published(self) -> list[PublicSigningKey]:
        return [self.key.public()]


async def noop_gate(subject: str | None) -> None:
    """A rate-limit gate that lets everything through."""


class RecordingGate:
    """A rate-limit gate that records the subjects it counted."""

    def __init__(self) -> None:
        self.subjects: list[str | None] = []

    async def __call__(self, subject: str | None) -> None:
        self.subjects.append(subject)


class FakeAuth:
    """auth's use cases on in-memory stores, a fixed clock and predictable ids."""

    def __init__(self) -> None:
        self.users, self.tokens = FakeUsers(), FakeRefreshTokens()
        self.revocations = FakeRevocations()
        self.uow = FakeUnitOfWork(Repositories(self.users, self.tokens, self.revocations))
        self.hasher, self.keys, self.clock = FakeHasher(), FakeSigningKeys(), Clock()
        self.accounts = Accounts(
            self.uow,
            self.hasher,
            self.keys,
            refresh_token_ttl_s=3600,
            blocklist=frozenset(),
            clock=self.clock,
            ids=Ids(),
        )
        self.verification = Verification(self.uow, self.keys, clock=self.clock)
