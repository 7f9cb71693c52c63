"""auth's use cases (accounts, and what verifiers need) and their ports: repositories, the
password hasher, the signing keys."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from nocturnal.auth.domain import events
from nocturnal.auth.domain.emails import canonical_email
from nocturnal.auth.domain.passwords import normalize_password
from nocturnal.auth.domain.signing_keys import PublicSigningKey, SigningKey
from nocturnal.auth.domain.tokens import (
    InvalidRefreshToken,
    RefreshState,
    RefreshToken,
    access_token_claims,
    refresh_token_id,
)
from nocturnal.auth.domain.users import (
    AccountGone,
    InvalidCredentials,
    Role,
    User,
    check_registration,
)
from nocturnal.shared.auth.claims import ACCESS_TOKEN_TTL_S, TOKEN_HORIZON_S
from nocturnal.shared.auth.revocation import RevocationEpoch
from nocturnal.shared.clock import Clock, utc_now
from nocturnal.shared.ids import IdFactory, new_id
from nocturnal.shared.logging import get_logger
from nocturnal.shared.ratelimit.policies import subject_hash
from nocturnal.shared.unit_of_work import DomainEvent, Transaction, UnitOfWork

log = get_logger("auth")

REVOCATION_RETENTION_S = TOKEN_HORIZON_S
"""Revocation epochs matter while a token they reject can still be valid."""

Gate = Callable[[str | None], Awaitable[None]]
"""Counts one attempt of the caller against the `auth` rate-limit policy under a subject (an
e-mail or user hash, None when unknown); raises when the caller is over the limit."""


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

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace the stored hash of the same password (a rehash with new parameters)."""
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


@dataclass(frozen=True)
class TokenGrant:
    """What a client gets on register, login and refresh: an access token (`expires_in`
    seconds) and a refresh token, for `user`."""

    user: User
    access_token: str
    refresh_token: str
    expires_in: int = ACCESS_TOKEN_TTL_S


class Accounts:
    """Registration, sign-in, refresh-token rotation and sign-out (DESIGN §2)."""

    def __init__(
        self,
        uow: UnitOfWork[Repositories],
        hasher: PasswordHasher,
        keys: SigningKeys,
        *,
        refresh_token_ttl_s: int,
        blocklist: Container[str],
        clock: Clock = utc_now,
        ids: IdFactory = new_id,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._keys = keys
        self._refresh_ttl_s = refresh_token_ttl_s
        self._blocklist = blocklist
        self._clock = clock
        self._ids = ids

    async def register(
        self, email: str, password: str, *, name: str, role: Role, gate: Gate
    ) -> TokenGrant:
        """Create an account (`user.registered`) and sign it in.

        The password is taken as typed and NFKC-normalised; the attempt counts against the
        rate limit under the canonical e-mail address.

        Raises:
            InvalidRegistration: the address or the password breaks the rules.
            HasherBusy: no hashing slot in time.
            EmailTaken: an account already has this canonical address.
        """
        password = normalize_password(password)
        check_registration(email, password, name, blocklist=self._blocklist)
        canonical = canonical_email(email)
        await gate(subject_hash(canonical))
        password_hash = await self._hasher.hash(password)
        now = self._clock()
        user = User.new(
            self._ids(),
            email=email,
            email_canonical=canonical,
            name=name,
            role=role,
            password_hash=password_hash,
            now=now,
        )
        value, token = self._new_family(user.id, now)

        async def work(tx: Tx) -> None:
            await tx.repositories.users.insert(user)
            await tx.repositories.refresh_tokens.insert(token)
            tx.publish(events.user_registered(user))

        await self._uow.run(work)
        return await self._grant(user, value)

    async def login(self, email: str, password: str, *, ip: str, gate: Gate) -> TokenGrant:
        """Exchange e-mail and password for a token pair (`user.login_succeeded`); a failure
        is recorded (`user.login_failed`) and costs the same whether the address is known.

        Raises:
            InvalidCredentials: unknown address or wrong password.
            HasherBusy: no hashing slot in time.
        """
        canonical = canonical_email(email)
        email_hash = subject_hash(canonical)
        await gate(email_hash)
        user = await self._uow.repositories.users.by_email(canonical)
        password = normalize_password(password)
        verified = await self._hasher.verify(user.password_hash if user else None, password)
        if user is None or not verified:
            await self._publish(events.login_failed(user.id if user else None, email_hash, ip))
            raise InvalidCredentials
        await self._upgrade_hash(user, password)
        value, token = self._new_family(user.id, self._clock())

        async def work(tx: Tx) -> None:
            await tx.repositories.refresh_tokens.insert(token)
            tx.publish(events.login_succeeded(user.id, email_hash, ip))

        await self._uow.run(work)
        return await self._grant(user, value)

    async def refresh(self, value: str, *, gate: Gate) -> TokenGrant:
        """Rotate a refresh token: a new pair. Presenting a used token again means it leaked:
        its whole family is revoked with the user's earlier access tokens
        (`auth.tokens_revoked`). The attempt counts under the token's user.

        Raises:
            InvalidRefreshToken: unknown, used, revoked or expired.
        """
        token = await self._uow.repositories.refresh_tokens.get(refresh_token_id(value))
        await gate(subject_hash(token.user_id) if token else None)
        if token is None:
            raise InvalidRefreshToken
        now = self._clock()
        if token.state(now) is RefreshState.ACTIVE:
            grant = await self._rotate(token, now)
            if grant is not None:
                return grant
            # Lost a race with another presentation of this token: see what that one did.
            token = await self._uow.repositories.refresh_tokens.get(token.id) or token
        if token.state(now) is RefreshState.USED:
            await self._revoke_after_reuse(token, now)
        raise InvalidRefreshToken

    async def logout(self, value: str) -> None:
        """Revoke the refresh token's family; an unknown token changes nothing."""
        token = await self._uow.repositories.refresh_tokens.get(refresh_token_id(value))
        if token is None:
            return
        now = self._clock()

        async def work(tx: Tx) -> None:
            await tx.repositories.refresh_tokens.revoke_family(token.family_id, now)

        await self._uow.run(work)

    async def account(self, user_id: str) -> User:
        """The account of a verified token.

        Raises:
            AccountGone: it no longer exists.
        """
        user = await self._uow.repositories.users.by_id(user_id)
        if user is None:
            raise AccountGone
        return user

    async def _rotate(self, token: RefreshToken, now: datetime) -> TokenGrant | None:
        user = await self._uow.repositories.users.by_id(token.user_id)
        if user is None:
            return None
        value, successor = token.successor(now=now, ttl_s=self._refresh_ttl_s)

        async def work(tx: Tx) -> bool:
            if not await tx.repositories.refresh_tokens.mark_used(token.id, now):
                return False
            await tx.repositories.refresh_tokens.insert(successor)
            return True

        if not await self._uow.run(work):
            return None
        return await self._grant(user, value)

    async def _revoke_after_reuse(self, token: RefreshToken, now: datetime) -> None:
        not_before = int(now.timestamp())

        async def work(tx: Tx) -> None:
            await tx.repositories.refresh_tokens.revoke_family(token.family_id, now)
            await tx.repositories.revocations.insert(token.user_id, not_before, now)
            tx.publish(events.tokens_revoked(token.user_id, not_before))

        await self._uow.run(work)
        log.warning("refresh token replayed; family revoked", family_id=token.family_id)

    async def _upgrade_hash(self, user: User, password: str) -> None:
        if not self._hasher.needs_rehash(user.password_hash):
            return
        # Upgrading to the configured costs can wait for a quieter login.
        with contextlib.suppress(HasherBusy):
            password_hash = await self._hasher.hash(password)
            await self._uow.repositories.users.set_password_hash(user.id, password_hash)

    async def _publish(self, event: DomainEvent) -> None:
        async def work(tx: Tx) -> None:
            tx.publish(event)

        await self._uow.run(work)

    def _new_family(self, user_id: str, now: datetime) -> tuple[str, RefreshToken]:
        return RefreshToken.issue(
            user_id, family_id=self._ids(), now=now, ttl_s=self._refresh_ttl_s
        )

    async def _grant(self, user: User, refresh_value: str) -> TokenGrant:
        key = await self._keys.signing_key()
        claims = access_token_claims(user.id, user.role.value, self._clock(), self._ids())
        return TokenGrant(user, key.sign(claims), refresh_value)


class Verification:
    """What every verifying instance needs from auth: the public keys and the revocation
    epochs still in force."""

    def __init__(
        self, uow: UnitOfWork[Repositories], keys: SigningKeys, *, clock: Clock = utc_now
    ) -> None:
        self._uow = uow
        self._keys = keys
        self._clock = clock

    async def public_keys(self) -> list[PublicSigningKey]:
        """Every key whose tokens may still be valid, newest first (the JWKS)."""
        return await self._keys.published()

    async def revocations(self) -> list[RevocationEpoch]:
        """Revocation epochs `[{user_id, not_before}]` that may still reject an unexpired token."""
        since = int(self._clock().timestamp()) - REVOCATION_RETENTION_S
        return await self._uow.repositories.revocations.in_force(since)
