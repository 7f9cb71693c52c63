"""Users, refresh tokens and revocations in MongoDB; every change commits with its outbox events."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from nocturnal.auth.domain.tokens import RefreshToken
from nocturnal.auth.domain.users import Role, User
from nocturnal.shared.auth.claims import ACCESS_TOKEN_TTL_S, MAX_LEEWAY_S
from nocturnal.shared.events import CloudEvent, Outbox
from nocturnal.shared.mongo import in_transaction

T = TypeVar("T")

# Revocation epochs matter while a token they reject can still be valid.
REVOCATION_RETENTION_S = ACCESS_TOKEN_TTL_S + MAX_LEEWAY_S


class EmailTaken(Exception):
    """Another account already has this canonical e-mail address."""


class AccountStore:
    """The auth database: `users`, `refresh_tokens` (families) and `revocations`.

    Every method that changes state writes its events to the outbox in the same transaction
    and calls `on_commit` afterwards (the relay's `notify`).
    """

    def __init__(
        self,
        client: AsyncMongoClient[Any],
        db: AsyncDatabase[Any],
        outbox: Outbox,
        *,
        on_commit: Callable[[], None],
    ) -> None:
        self._client = client
        self._users = db["users"]
        self._tokens = db["refresh_tokens"]
        self._revocations = db["revocations"]
        self._outbox = outbox
        self._on_commit = on_commit

    @staticmethod
    async def ensure_indexes(db: AsyncDatabase[Any]) -> None:
        """Create the indexes (unique canonical e-mail, token families, expiry); idempotent."""
        await db["users"].create_index("email_canonical", unique=True, name="email_unique")
        await db["refresh_tokens"].create_index("family_id", name="family")
        # Used tokens stay until they expire: a replay must still be recognised as one.
        await db["refresh_tokens"].create_index(
            "expires_at", expireAfterSeconds=0, name="expires_ttl"
        )
        await db["revocations"].create_index(
            "created_at", expireAfterSeconds=REVOCATION_RETENTION_S, name="created_ttl"
        )
        await db["revocations"].create_index([("not_before", ASCENDING)], name="not_before")

    async def user_by_id(self, user_id: str) -> User | None:
        """The user with this id, if any."""
        return _user(await self._users.find_one({"_id": user_id}))

    async def user_by_email(self, email_canonical: str) -> User | None:
        """The user with this canonical e-mail address, if any."""
        return _user(await self._users.find_one({"email_canonical": email_canonical}))

    async def add_user(self, user: User, token: RefreshToken, events: Sequence[CloudEvent]) -> None:
        """Store a new user with its first refresh token and `events`, atomically.

        Raises:
            EmailTaken: the canonical e-mail address already belongs to an account.
        """

        async def work(session: AsyncClientSession) -> None:
            await self._users.insert_one(_user_document(user), session=session)
            await self._tokens.insert_one(_token_document(token), session=session)
            await self._add_events(events, session)

        try:
            await self._commit(work)
        except DuplicateKeyError:
            raise EmailTaken from None

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace the stored hash of the same password (a rehash with new parameters)."""
        await self._users.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})

    async def add_refresh_token(self, token: RefreshToken, events: Sequence[CloudEvent]) -> None:
        """Store a refresh token that starts a family (a login) with `events`, atomically."""

        async def work(session: AsyncClientSession) -> None:
            await self._tokens.insert_one(_token_document(token), session=session)
            await self._add_events(events, session)

        await self._commit(work)

    async def record(self, events: Sequence[CloudEvent]) -> None:
        """Store `events` alone (e.g. a failed login)."""
        await self._commit(lambda session: self._add_events(events, session))

    async def refresh_token(self, token_id: str) -> RefreshToken | None:
        """The refresh token stored under this hash, if any."""
        doc = await self._tokens.find_one({"_id": token_id})
        return None if doc is None else _refresh_token(doc)

    async def rotate(self, token: RefreshToken, successor: RefreshToken, now: datetime) -> bool:
        """Mark `token` used and store `successor`, atomically, if `token` is still active.

        Returns False (and changes nothing) when it was used, revoked or expired meanwhile:
        another request presented the same token first.
        """

        async def work(session: AsyncClientSession) -> bool:
            active = {"_id": token.id, "used_at": None, "revoked_at": None}
            result = await self._tokens.update_one(
                {**active, "expires_at": {"$gt": now}},
                {"$set": {"used_at": now}},
                session=session,
            )
            if result.modified_count == 0:
                return False
            await self._tokens.insert_one(_token_document(successor), session=session)
            return True

        return await self._commit(work)

    async def revoke_family(
        self,
        token: RefreshToken,
        now: datetime,
        *,
        not_before: int | None = None,
        events: Sequence[CloudEvent] = (),
    ) -> None:
        """Revoke every token of `token`'s family, atomically with `events`.

        With `not_before` (epoch seconds) the user's access tokens issued earlier are revoked
        too: the epoch is kept for `GET /v1/revocations` (verifiers load it at start).
        """

        async def work(session: AsyncClientSession) -> None:
            await self._tokens.update_many(
                {"family_id": token.family_id, "revoked_at": None},
                {"$set": {"revoked_at": now}},
                session=session,
            )
            if not_before is not None:
                revocation = {"user_id": token.user_id, "not_before": not_before, "created_at": now}
                await self._revocations.insert_one(revocation, session=session)
            await self._add_events(events, session)

        await self._commit(work)

    async def revocations_in_force(self) -> list[dict[str, Any]]:
        """Revocation epochs `{user_id, not_before}` that may still reject an unexpired token."""
        since = int(time.time()) - REVOCATION_RETENTION_S
        cursor = self._revocations.find(
            {"not_before": {"$gte": since}}, {"_id": 0, "user_id": 1, "not_before": 1}
        )
        return [
            {"user_id": doc["user_id"], "not_before": doc["not_before"]} async for doc in cursor
        ]

    async def _add_events(self, events: Sequence[CloudEvent], session: AsyncClientSession) -> None:
        for event in events:
            await self._outbox.add(event, session=session)

    async def _commit(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        result = await in_transaction(self._client, work)
        self._on_commit()
        return result


def _user_document(user: User) -> dict[str, Any]:
    doc = asdict(user)
    doc["_id"] = doc.pop("id")
    doc["role"] = user.role.value
    return doc


def _user(doc: dict[str, Any] | None) -> User | None:
    if doc is None:
        return None
    return User(
        id=doc["_id"],
        email=doc["email"],
        email_canonical=doc["email_canonical"],
        name=doc["name"],
        role=Role(doc["role"]),
        password_hash=doc["password_hash"],
        created_at=doc["created_at"],
    )


def _token_document(token: RefreshToken) -> dict[str, Any]:
    doc = asdict(token)
    doc["_id"] = doc.pop("id")
    return doc


def _refresh_token(doc: dict[str, Any]) -> RefreshToken:
    return RefreshToken(
        id=doc["_id"],
        family_id=doc["family_id"],
        user_id=doc["user_id"],
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        used_at=doc.get("used_at"),
        revoked_at=doc.get("revoked_at"),
    )


ACCOUNTS = web.AppKey("accounts", AccountStore)
