"""The auth database in MongoDB: `users`, `refresh_tokens` (families) and `revocations`, each a
repository bound to a session (or to none, for reads)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from nocturnal.auth.domain.tokens import RefreshToken
from nocturnal.auth.domain.users import EmailTaken, Role, User
from nocturnal.auth.service_layer import REVOCATION_RETENTION_S
from nocturnal.shared.auth.revocation import RevocationEpoch

Document = dict[str, Any]


async def ensure_indexes(db: AsyncDatabase[Any]) -> None:
    """Create the indexes (unique canonical e-mail, token families, expiry); idempotent."""
    await db["users"].create_index("email_canonical", unique=True, name="email_unique")
    await db["refresh_tokens"].create_index("family_id", name="family")
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

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace the stored hash of the same password (a rehash with new parameters)."""
        await self._users.update_one(
            {"_id": user_id}, {"$set": {"password_hash": password_hash}}, session=self._session
        )


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


def _user_document(user: User) -> Document:
    doc = asdict(user)
    doc["_id"] = doc.pop("id")
    doc["role"] = user.role.value
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
