"""Accounts: registration, sign-in, refresh-token rotation, sign-out, password change and
account deletion (DESIGN §1-§2)."""

from __future__ import annotations

import contextlib
from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nocturnal.auth.domain import events
from nocturnal.auth.domain.emails import canonical_email
from nocturnal.auth.domain.passwords import normalize_password
from nocturnal.auth.domain.tokens import (
    InvalidRefreshToken,
    RefreshState,
    RefreshToken,
    access_token_claims,
    issued_at,
    refresh_token_id,
    revocation_epoch,
)
from nocturnal.auth.domain.users import (
    AccountGone,
    InvalidCredentials,
    Role,
    User,
    check_new_password,
    check_password_changes,
    check_registration,
)
from nocturnal.auth.service_layer.ports import (
    Gate,
    HasherBusy,
    PasswordHasher,
    Repositories,
    Revoked,
    SigningKeys,
    Tx,
)
from nocturnal.shared.auth.claims import ACCESS_TOKEN_TTL_S
from nocturnal.shared.clock import Clock, utc_now
from nocturnal.shared.ids import IdFactory, new_id
from nocturnal.shared.logging import get_logger
from nocturnal.shared.ratelimit.policies import subject_hash
from nocturnal.shared.unit_of_work import DomainEvent, UnitOfWork

log = get_logger("auth")


def _nobody_told(user_id: str, not_before: int) -> None:
    """A `Revoked` for use cases without a verifier of their own (unit tests)."""


@dataclass(frozen=True)
class TokenGrant:
    """What a client gets on register, login and refresh: an access token (`expires_in`
    seconds) and a refresh token, for `user`."""

    user: User
    access_token: str
    refresh_token: str
    expires_in: int = ACCESS_TOKEN_TTL_S


class Accounts:
    """Registration, sign-in, refresh-token rotation, sign-out, password change and account
    deletion (DESIGN §1-§2).

    Revocations and grants serialise on the account's record: every transaction that grants
    tokens writes it (`claim_grant`), and so does every revocation and the deletion, so of two
    that overlap one runs again on fresh reads. A grant dates its access token inside its
    transaction, before the commit, never before the account's revocation epoch; a revocation
    reads the clock after its first read of the account. So a token granted before a
    revocation is earlier than its epoch, and one granted after is not (`revocation_epoch`).
    """

    def __init__(
        self,
        uow: UnitOfWork[Repositories],
        hasher: PasswordHasher,
        keys: SigningKeys,
        *,
        refresh_token_ttl_s: int,
        blocklist: Container[str],
        revoked: Revoked = _nobody_told,
        clock: Clock = utc_now,
        ids: IdFactory = new_id,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._keys = keys
        self._refresh_ttl_s = refresh_token_ttl_s
        self._blocklist = blocklist
        self._revoked = revoked
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
        with self._hasher.admitted():  # a caller shed costs no rate-limit check
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

        async def work(tx: Tx) -> _Grant:
            await tx.repositories.users.insert(user)
            await tx.repositories.refresh_tokens.insert(token)
            tx.publish(events.user_registered(user))
            return self._dated(user)

        return await self._sign(await self._uow.run(work), value)

    async def login(self, email: str, password: str, *, ip: str, gate: Gate) -> TokenGrant:
        """Exchange e-mail and password for a token pair (`user.login_succeeded`); a failure
        is recorded (`user.login_failed`) and costs the same whether the address is known.

        Raises:
            InvalidCredentials: unknown address, wrong password, or the account's tokens were
                revoked (its password changed) or it was deleted while the password was checked.
            HasherBusy: no hashing slot in time, or (before anything is counted or read) no
                place in the hashing queue.
        """
        canonical = canonical_email(email)
        email_hash = subject_hash(canonical)
        password = normalize_password(password)
        with self._hasher.admitted():  # a caller shed costs no rate-limit check, no read
            await gate(email_hash)
            user = await self._uow.repositories.users.by_email(canonical)
            verified = await self._hasher.verify(user.password_hash if user else None, password)
            if user is not None and verified:
                await self._upgrade_hash(user, password)
        if user is None or not verified:
            await self._publish(events.login_failed(user.id if user else None, email_hash, ip))
            raise InvalidCredentials
        value, token = self._new_family(user.id, self._clock())

        async def work(tx: Tx) -> _Grant:
            users = tx.repositories.users
            current = await users.claim_grant(user.id, tokens_not_before=user.tokens_not_before)
            if current is None:
                raise InvalidCredentials
            await tx.repositories.refresh_tokens.insert(token)
            tx.publish(events.login_succeeded(user.id, email_hash, ip))
            return self._dated(current)

        return await self._sign(await self._uow.run(work), value)

    async def refresh(self, value: str, *, gate: Gate) -> TokenGrant:
        """Rotate a refresh token: a new pair. Presenting a used token again means it leaked:
        its whole family is revoked with the user's earlier access tokens
        (`auth.tokens_revoked`). The attempt counts under the token's user.

        Raises:
            InvalidRefreshToken: unknown, used, revoked or expired, or its account is gone.
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

    async def change_password(
        self, user_id: str, current_password: str, new_password: str, *, ip: str, gate: Gate
    ) -> None:
        """Replace the account's password and revoke every token it has: every refresh-token
        family, and every access token issued until now (`auth.tokens_revoked`). The caller
        signs in again with the new password.

        The new password must pass the registration policy (checked first, before anything
        counts) and differ from the current one; the current one is checked like a login
        (counted by the rate limit under the user, `user.login_failed` when wrong).

        Raises:
            AccountGone: the account no longer exists.
            InvalidNewPassword: the new password breaks a rule.
            InvalidCredentials: the current password is wrong, or the account's tokens were
                revoked meanwhile (another change won).
            HasherBusy: no hashing slot in time.
        """
        user = await self.account(user_id)
        current_password = normalize_password(current_password)
        new_password = normalize_password(new_password)
        check_new_password(user, new_password, blocklist=self._blocklist)
        await self._reauthenticate(user, current_password, ip=ip, gate=gate)
        check_password_changes(current_password, new_password)
        password_hash = await self._hasher.hash(new_password)

        async def work(tx: Tx) -> int:
            current = await self._unrevoked(tx, user)
            now = self._clock()
            not_before = revocation_epoch(now, current.tokens_not_before)
            await tx.repositories.users.revoke_tokens(
                user.id, not_before, password_hash=password_hash
            )
            await tx.repositories.refresh_tokens.revoke_of_user(user.id, now)
            await self._record_revocation(tx, user.id, not_before, now)
            return not_before

        self._revoked(user.id, await self._uow.run(work))
        log.info("password changed; every token revoked", user_id=user.id)

    async def delete_account(self, user_id: str, password: str, *, ip: str, gate: Gate) -> None:
        """Delete the account after checking its password again (as `change_password` checks
        the current one): the account and its refresh tokens go, its access tokens are revoked
        (`auth.tokens_revoked`) and `user.deleted` tells the other services to erase the user's
        data. The e-mail address is free again.

        Raises:
            AccountGone: the account no longer exists.
            InvalidCredentials: the password is wrong, or the account's tokens were revoked
                meanwhile (its password changed).
            HasherBusy: no hashing slot in time.
        """
        user = await self.account(user_id)
        await self._reauthenticate(user, normalize_password(password), ip=ip, gate=gate)

        async def work(tx: Tx) -> int:
            current = await self._unrevoked(tx, user)
            now = self._clock()
            not_before = revocation_epoch(now, current.tokens_not_before)
            await tx.repositories.users.delete(user.id)
            await tx.repositories.refresh_tokens.delete_of_user(user.id)
            await self._record_revocation(tx, user.id, not_before, now)
            tx.publish(events.user_deleted(user.id))
            return not_before

        self._revoked(user.id, await self._uow.run(work))
        log.info("account deleted", user_id=user.id)

    async def _reauthenticate(self, user: User, password: str, *, ip: str, gate: Gate) -> None:
        # Counted under the user (DESIGN §1: the user id once known), a budget of its own shared
        # by password changes and deletions; a wrong password is a failed login of the account's
        # address, so ratelimit's strict tier tightens its logins too.
        with self._hasher.admitted():  # a caller shed costs no rate-limit check
            await gate(subject_hash(user.id))
            verified = await self._hasher.verify(user.password_hash, password)
        if not verified:
            email_hash = subject_hash(user.email_canonical)
            await self._publish(events.login_failed(user.id, email_hash, ip))
            raise InvalidCredentials

    @staticmethod
    async def _unrevoked(tx: Tx, user: User) -> User:
        """`user` as it is inside `tx`, unless it is gone or its tokens were revoked since it
        was read (its password was checked against what it was then)."""
        current = await tx.repositories.users.by_id(user.id)
        if current is None:
            raise AccountGone
        if current.tokens_not_before != user.tokens_not_before:
            raise InvalidCredentials
        return current

    async def _record_revocation(
        self, tx: Tx, user_id: str, not_before: int, now: datetime
    ) -> None:
        await tx.repositories.revocations.insert(user_id, not_before, now)
        tx.publish(events.tokens_revoked(user_id, not_before))

    async def _rotate(self, token: RefreshToken, now: datetime) -> TokenGrant | None:
        value, successor = token.successor(now=now, ttl_s=self._refresh_ttl_s)

        async def work(tx: Tx) -> _Grant | None:
            user = await tx.repositories.users.claim_grant(token.user_id)
            if user is None or not await tx.repositories.refresh_tokens.mark_used(token.id, now):
                return None
            await tx.repositories.refresh_tokens.insert(successor)
            return self._dated(user)

        grant = await self._uow.run(work)
        return None if grant is None else await self._sign(grant, value)

    async def _revoke_after_reuse(self, token: RefreshToken, now: datetime) -> None:
        async def work(tx: Tx) -> int:
            users = tx.repositories.users
            user = await users.by_id(token.user_id)
            revoked_at = self._clock()
            not_before = revocation_epoch(revoked_at, user.tokens_not_before if user else 0)
            if user is not None:
                await users.revoke_tokens(user.id, not_before)
            await tx.repositories.refresh_tokens.revoke_family(token.family_id, now)
            await self._record_revocation(tx, token.user_id, not_before, revoked_at)
            return not_before

        self._revoked(token.user_id, await self._uow.run(work))
        log.warning("refresh token replayed; family revoked", family_id=token.family_id)

    async def _upgrade_hash(self, user: User, password: str) -> None:
        if not self._hasher.needs_rehash(user.password_hash):
            return
        # Upgrading to the configured costs can wait for a quieter login.
        with contextlib.suppress(HasherBusy):
            password_hash = await self._hasher.hash(password)
            await self._uow.repositories.users.set_password_hash(
                user.id, user.password_hash, password_hash
            )

    async def _publish(self, event: DomainEvent) -> None:
        async def work(tx: Tx) -> None:
            tx.publish(event)

        await self._uow.run(work)

    def _new_family(self, user_id: str, now: datetime) -> tuple[str, RefreshToken]:
        return RefreshToken.issue(
            user_id, family_id=self._ids(), now=now, ttl_s=self._refresh_ttl_s
        )

    def _dated(self, user: User) -> _Grant:
        """The access-token claims of a grant to `user`, dated now (inside the grant's
        transaction: before it commits)."""
        iat = issued_at(self._clock(), user.tokens_not_before)
        return _Grant(user, access_token_claims(user.id, user.role.value, iat, self._ids()))

    async def _sign(self, grant: _Grant, refresh_value: str) -> TokenGrant:
        key = await self._keys.signing_key()
        return TokenGrant(grant.user, key.sign(grant.claims), refresh_value)


@dataclass(frozen=True)
class _Grant:
    """A committed grant's account and access-token claims, to be signed."""

    user: User
    claims: dict[str, Any]
