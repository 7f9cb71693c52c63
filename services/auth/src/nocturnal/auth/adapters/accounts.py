"""The auth database in MongoDB: `users`, `refresh_tokens` (families) and `revocations`, each a
repository bound to a session (or to none, for reads)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from nocturnal.auth.domain.tokens import RefreshToken
from nocturnal.auth.domain.users import EmailTaken, Role, User
from nocturnal.auth.service_layer.ports import REVOCATION_RETENTION_S
from nocturnal.shared.auth.revocation import RevocationEpoch

Document = dict[str, Any]


async def ensure_indexes(db: AsyncDatabase[Any]) -> None:
    """Create the indexes (unique canonical e-mail, token families, expiry); idempotent."""
    await db["users"].create_index("email_canonical", unique=True, name="email_unique")
    await db["refresh_tokens"].create_index("family_id", name="family")
    await db["refresh_tokens"].create_index("user_id", name="user")
    # Used tokens stay until they expire: a replay must still be recognised as one.
    await db["refresh_tokens"].create_index("expires_at", expireAfterSeconds=0, name="expires_ttl")
    await db["revocations"].create_index(
        "created_at", expireAfterSeconds=REVOCATION_RETENTION_S, name="created_ttl"
    )
    await db["revocations"].create_index([("not_before", ASCENDING)], name="not_before")


class MongoUserRepository:
    """The `users` collection (a `UserRepository`)."""

    def __init__(self, db: AsyncDatabase[Any], session: AsyncClientSession | None = None) -> None:
        self._users = db["users"]
        self._session = session

    async def insert(self, user: User) -> None:
        """Store a new account.

        Raises:
            EmailTaken: the canonical e-mail address already belongs to an account.
        """
        try:
            await self._users.insert_one(_user_document(user), session=self._session)
        except DuplicateKeyError:
            raise EmailTaken from None

    async def by_id(self, user_id: str) -> User | None:
        """The user with this id, if any."""
        return _user(await self._users.find_one({"_id": user_id}, session=self._session))

    async def by_email(self, email_canonical: str) -> User | None:
        """The user with this canonical e-mail address, if any."""
        found = await self._users.find_one(
            {"email_canonical": email_canonical}, session=self._session
        )
        return _user(found)

    async def set_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> None:
        """Replace the stored hash of the same password (a rehash with new parameters), unless
        the stored hash is no longer `old_hash` (the password changed meanwhile)."""
        await self._users.update_one(
            {"_id": user_id, "password_hash": old_hash},
            {"$set": {"password_hash": new_hash}},
            session=self._session,
        )

    async def claim_grant(
        self, user_id: str, *, tokens_not_before: int | None = None
    ) -> User | None:
        """The account as it is now, its `version` bumped; None when it is gone or (with
        `tokens_not_before`) its revocation epoch moved.

        The write is the point: inside a transaction it conflicts with any concurrent
        transaction that revokes the account's tokens or deletes it (MongoDB refuses the second
        writer of a document with a transient write conflict, and that transaction runs again).
        """
        query: Document = {"_id": user_id}
        if tokens_not_before is not None:
            query.update(_epoch_is(tokens_not_before))
        found = await self._users.find_one_and_update(
            query,
            {"$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
            session=self._session,
        )
        return _user(found)

    async def revoke_tokens(
        self, user_id: str, not_before: int, *, password_hash: str | None = None
    ) -> None:
        """Set the account's revocation epoch (and its new password's hash, when given)."""
        changes: Document = {"tokens_not_before": not_before}
        if password_hash is not None:
            changes["password_hash"] = password_hash
        await self._users.update_one(
            {"_id": user_id},
            {"$set": changes, "$inc": {"version": 1}},
            session=self._session,
        )

    async def delete(self, user_id: str) -> None:
        """Remove the account."""
        await self._users.delete_one({"_id": user_id}, session=self._session)


class MongoRefreshTokenRepository:
    """The `refresh_tokens` collection (a `RefreshTokenRepository`), by hash."""

    def __init__(self, db: AsyncDatabase[Any], session: AsyncClientSession | None = None) -> None:
        self._tokens = db["refresh_tokens"]
        self._session = session

    async def insert(self, token: RefreshToken) -> None:
        """Store a token."""
        await self._tokens.insert_one(_token_document(token), session=self._session)

    async def get(self, token_id: str) -> RefreshToken | None:
        """The refresh token stored under this hash, if any."""
        doc = await self._tokens.find_one({"_id": token_id}, session=self._session)
        return None if doc is None else _refresh_token(doc)

    async def mark_used(self, token_id: str, now: datetime) -> bool:
        """Mark the token used if it is still active at `now`; False when it was not (another
        request presented it first, or it was revoked or expired)."""
        result = await self._tokens.update_one(
            {"_id": token_id, "used_at": None, "revoked_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
            session=self._session,
        )
        return result.modified_count == 1

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        """Revoke every token of the family that is not revoked yet."""
        await self._tokens.update_many(
            {"family_id": family_id, "revoked_at": None},
            {"$set": {"revoked_at": now}},
            session=self._session,
        )

    async def revoke_of_user(self, user_id: str, now: datetime) -> None:
        """Revoke every token of every family of the user that is not revoked yet."""
        await self._tokens.update_many(
            {"user_id": user_id, "revoked_at": None},
            {"$set": {"revoked_at": now}},
            session=self._session,
        )

    async def delete_of_user(self, user_id: str) -> None:
        """Remove every token of the user."""
        await self._tokens.delete_many({"user_id": user_id}, session=self._session)


class MongoRevocationRepository:
    """The `revocations` collection (a `RevocationRepository`), kept by a TTL index."""

    def __init__(self, db: AsyncDatabase[Any], session: AsyncClientSession | None = None) -> None:
        self._revocations = db["revocations"]
        self._session = session

    async def insert(self, user_id: str, not_before: int, now: datetime) -> None:
        """Keep the epoch `not_before` of `user_id`."""
        revocation = {"user_id": user_id, "not_before": not_before, "created_at": now}
        await self._revocations.insert_one(revocation, session=self._session)

    async def in_force(self, since: int) -> list[RevocationEpoch]:
        """Revocation epochs `{user_id, not_before}` with `not_before >= since`."""
        cursor = self._revocations.find(
            {"not_before": {"$gte": since}},
            {"_id": 0, "user_id": 1, "not_before": 1},
            session=self._session,
        )
        return [
            {"user_id": doc["user_id"], "not_before": doc["not_before"]} async for doc in cursor
        ]


def _epoch_is(not_before: int) -> Document:
    # Accounts stored before epochs were kept on them have none: that is epoch 0.
    if not_before == 0:
        return {"tokens_not_before": {"$in": [0, None]}}
    return {"tokens_not_before": not_before}


def _user_document(user: User) -> Document:
    doc = asdict(user)
    doc["_id"] = doc.pop("id")
    doc["role"] = user.role.value
    doc["version"] = 0
    return doc


def _user(doc: Document | None) -> User | None:
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
        tokens_not_before=doc.get("tokens_not_before") or 0,
    )


def _token_document(token: RefreshToken) -> Document:
    doc = asdict(token)
    doc["_id"] = doc.pop("id")
    return doc


def _refresh_token(doc: Document) -> RefreshToken:
    return RefreshToken(
        id=doc["_id"],
        family_id=doc["family_id"],
        user_id=doc["user_id"],
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        used_at=doc.get("used_at"),
        revoked_at=doc.get("revoked_at"),
    )
