"""In-memory repositories, hasher, signing keys and rate-limit gate of auth, for unit tests."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

from fakes import START, Clock, FakeUnitOfWork, Ids

from nocturnal.auth.domain.signing_keys import PublicSigningKey, SigningKey
from nocturnal.auth.domain.tokens import RefreshState, RefreshToken
from nocturnal.auth.domain.users import EmailTaken, User
from nocturnal.auth.service_layer.accounts import Accounts
from nocturnal.auth.service_layer.ports import HasherBusy, Repositories
from nocturnal.auth.service_layer.verification import Verification


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

    async def set_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> None:
        user = self.stored.get(user_id)
        if user is not None and user.password_hash == old_hash:
            self.stored[user_id] = dataclasses.replace(user, password_hash=new_hash)

    async def claim_grant(
        self, user_id: str, *, tokens_not_before: int | None = None
    ) -> User | None:
        user = self.stored.get(user_id)
        if user is None or tokens_not_before not in (None, user.tokens_not_before):
            return None
        return user

    async def revoke_tokens(
        self, user_id: str, not_before: int, *, password_hash: str | None = None
    ) -> None:
        user = self.stored[user_id]
        self.stored[user_id] = dataclasses.replace(
            user,
            tokens_not_before=not_before,
            password_hash=password_hash or user.password_hash,
        )

    async def delete(self, user_id: str) -> None:
        self.stored.pop(user_id, None)


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

    async def revoke_of_user(self, user_id: str, now: datetime) -> None:
        for key, token in self.stored.items():
            if token.user_id == user_id and token.revoked_at is None:
                self.stored[key] = dataclasses.replace(token, revoked_at=now)

    async def delete_of_user(self, user_id: str) -> None:
        self.stored = {k: t for k, t in self.stored.items() if t.user_id != user_id}


class FakeRevocations:
    """`RevocationRepository` in a list."""

    def __init__(self) -> None:
        self.stored: list[dict[str, Any]] = []

    async def insert(self, user_id: str, not_before: int, now: datetime) -> None:
        self.stored.append({"user_id": user_id, "not_before": not_before})

    async def in_force(self, since: int) -> list[dict[str, Any]]:
        return [r for r in self.stored if r["not_before"] >= since]


class FakeHasher:
    """`PasswordHasher` without the cost: `full` refuses admission (no place in the queue);
    `busy` refuses every hash; `weak` hashes need a
    rehash; `salt` starts every new hash (the same password hashed again differs);
    `verifications` counts the calls (unknown accounts included); `during_verify` runs once
    while the next verification is under way (what another request does meanwhile)."""

    def __init__(self) -> None:
        self.full = False
        self.busy = False
        self.weak: set[str] = set()
        self.salt = ""
        self.verifications = 0
        self.during_verify: Callable[[], Awaitable[None]] | None = None

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        if self.full:
            raise HasherBusy
        yield

    async def hash(self, password: str) -> str:
        if self.busy:
            raise HasherBusy
        return f"{self.salt}hashed:{password}"

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self.verifications += 1
        if self.busy:
            raise HasherBusy
        meanwhile, self.during_verify = self.during_verify, None
        if meanwhile is not None:
            await meanwhile()
        _, marker, hashed = (password_hash or "").partition("hashed:")
        return bool(marker) and hashed == password

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
    """auth's use cases on in-memory stores, a fixed clock and predictable ids; `told` holds
    the `(user_id, not_before)` revocations the use cases told this instance's verifier."""

    def __init__(self, *, blocklist: frozenset[str] = frozenset()) -> None:
        self.users, self.tokens = FakeUsers(), FakeRefreshTokens()
        self.revocations = FakeRevocations()
        self.uow = FakeUnitOfWork(Repositories(self.users, self.tokens, self.revocations))
        self.hasher, self.keys, self.clock = FakeHasher(), FakeSigningKeys(), Clock()
        self.told: list[tuple[str, int]] = []
        self.accounts = self.instance(self.clock, Ids(), blocklist=blocklist)
        self.verification = Verification(self.uow, self.keys, clock=self.clock)

    def instance(
        self, clock: Clock, ids: Ids, *, blocklist: frozenset[str] = frozenset()
    ) -> Accounts:
        """An auth instance on these stores, with a clock and ids of its own."""
        return Accounts(
            self.uow,
            self.hasher,
            self.keys,
            refresh_token_ttl_s=3600,
            blocklist=blocklist,
            revoked=lambda user_id, not_before: self.told.append((user_id, not_before)),
            clock=clock,
            ids=ids,
        )
