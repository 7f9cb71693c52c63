"""What auth's use cases need of the world: repositories bound to a transaction, the password
hasher, the signing keys, the rate-limit gate, and this instance's verifier."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from nocturnal.auth.domain.signing_keys import PublicSigningKey, SigningKey
from nocturnal.auth.domain.tokens import RefreshToken
from nocturnal.auth.domain.users import User
from nocturnal.shared.auth.claims import MAX_EARLY_IAT_S, TOKEN_HORIZON_S
from nocturnal.shared.auth.revocation import RevocationEpoch
from nocturnal.shared.unit_of_work import Transaction

REVOCATION_RETENTION_S = TOKEN_HORIZON_S + MAX_EARLY_IAT_S
"""How long a revocation is kept after it was made: while a token it rejects can still be valid
(its epoch is up to `MAX_EARLY_IAT_S` after the revocation, the tokens it rejects are dated
before the epoch and valid for `TOKEN_HORIZON_S` at most)."""

Gate = Callable[[str | None], Awaitable[None]]
"""Counts one attempt of the caller against the `auth` rate-limit policy under a subject (an
e-mail or user hash, None when unknown); raises when the caller is over the limit."""

Revoked = Callable[[str, int], None]
"""Told `(user_id, not_before)` after a revocation commits: this instance's own verifier
applies it at once, before the `auth.tokens_revoked` fan-out comes back to it."""


class UserRepository(Protocol):
    """Accounts, unique by canonical e-mail address."""

    async def insert(self, user: User) -> None:
        """Store a new account. Raises EmailTaken."""
        ...

    async def by_id(self, user_id: str) -> User | None:
        """The account with this id, if any."""
        ...

    async def by_email(self, email_canonical: str) -> User | None:
        """The account with this canonical e-mail address, if any."""
        ...

    async def set_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> None:
        """Replace the stored hash of the same password (a rehash with new parameters), unless
        the stored hash is no longer `old_hash` (the password changed meanwhile)."""
        ...

    async def claim_grant(
        self, user_id: str, *, tokens_not_before: int | None = None
    ) -> User | None:
        """In a transaction that grants tokens: the account as it is now, written to (its
        version bumped) so that a concurrent revocation or deletion of it conflicts with the
        grant. None when it is gone or, with `tokens_not_before`, when its revocation epoch is
        no longer that (its tokens were revoked since the caller read it)."""
        ...

    async def revoke_tokens(
        self, user_id: str, not_before: int, *, password_hash: str | None = None
    ) -> None:
        """Set the account's revocation epoch (and its new password's hash, when given)."""
        ...

    async def delete(self, user_id: str) -> None:
        """Remove the account."""
        ...


class RefreshTokenRepository(Protocol):
    """Refresh tokens by hash, in families; used tokens stay until they expire."""

    async def insert(self, token: RefreshToken) -> None:
        """Store a token."""
        ...

    async def get(self, token_id: str) -> RefreshToken | None:
        """The token stored under this hash, if any."""
        ...

    async def mark_used(self, token_id: str, now: datetime) -> bool:
        """Mark the token used if it is still active (unused, unrevoked, unexpired at `now`);
        False when it was not."""
        ...

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        """Revoke every token of the family that is not revoked yet."""
        ...

    async def revoke_of_user(self, user_id: str, now: datetime) -> None:
        """Revoke every token of every family of the user that is not revoked yet."""
        ...

    async def delete_of_user(self, user_id: str) -> None:
        """Remove every token of the user."""
        ...


class RevocationRepository(Protocol):
    """Revocation epochs: a user's access tokens issued before `not_before` are dead."""

    async def insert(self, user_id: str, not_before: int, now: datetime) -> None:
        """Keep the epoch (expires with `REVOCATION_RETENTION_S`)."""
        ...

    async def in_force(self, since: int) -> list[RevocationEpoch]:
        """`[{user_id, not_before}]` with `not_before >= since` (epoch seconds)."""
        ...


@dataclass(frozen=True)
class Repositories:
    """auth's repositories, bound to one transaction (or to none, for reads)."""

    users: UserRepository
    refresh_tokens: RefreshTokenRepository
    revocations: RevocationRepository


class HasherBusy(Exception):
    """Every password-hashing slot stayed taken for longer than the allowed wait."""


class PasswordHasher(Protocol):
    """Password hashing off the event loop, with bounded concurrency."""

    def admitted(self) -> AbstractContextManager[None]:
        """A place in the bounded hashing queue, held for the block (the hashes inside use it).
        Raises HasherBusy at once when the queue is full."""
        ...

    async def hash(self, password: str) -> str:
        """The hash of `password`. Raises HasherBusy."""
        ...

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches (None: an unknown account; as slow, always False).
        Raises HasherBusy."""
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other costs than the configured ones."""
        ...


class SigningKeys(Protocol):
    """The signing keys every auth instance shares."""

    async def signing_key(self) -> SigningKey:
        """The key to sign with now (the next generation is made when the newest retired)."""
        ...

    async def published(self) -> list[PublicSigningKey]:
        """Every key whose tokens may still be valid, newest first."""
        ...


Tx = Transaction[Repositories]
