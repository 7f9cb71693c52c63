"""Profiles in MongoDB, keyed by user id; the photo is tracked apart from the editable fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.api.domain.profiles import Profile
from nocturnal.shared.mongo import Document

COLLECTION = "profiles"
# A document exists for a user once registered, or earlier when a photo event came first;
# it is a profile only once `user.registered` has set the role.
_REGISTERED = {"role": {"$exists": True}}


class MongoProfileRepository:
    """The `profiles` collection (a `ProfileRepository`), read and written in `session`'s
    transaction when one is given."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._profiles = db[COLLECTION]
        self._session = session

    async def get(self, user_id: str) -> Profile | None:
        """The registered user's profile, or None."""
        doc = await self._profiles.find_one({"_id": user_id, **_REGISTERED}, session=self._session)
        return _profile(doc) if doc else None

    async def update(self, user_id: str, changes: dict[str, Any], now: datetime) -> Profile | None:
        """Apply `changes` (field -> value) to the profile; None when there is no profile."""
        doc = await self._profiles.find_one_and_update(
            {"_id": user_id, **_REGISTERED},
            {"$set": {**changes, "updated_at": now}},
            return_document=ReturnDocument.AFTER,
            session=self._session,
        )
        return _profile(doc) if doc else None

    async def register(self, user_id: str, *, name: str, role: str, at: datetime) -> None:
        """Create the profile of a newly registered user; an existing profile is kept."""
        existing = await self._profiles.find_one(
            {"_id": user_id, **_REGISTERED}, session=self._session
        )
        if existing is not None:
            return
        await self._profiles.update_one(
            {"_id": user_id},
            {"$set": {"name": name, "role": role, "registered_at": at, "updated_at": at}},
            upsert=True,
            session=self._session,
        )

    async def set_photo(self, owner_id: str, file_id: str, at: datetime) -> None:
        """Make `file_id` the owner's photo unless a later upload already is."""
        doc = await self._profiles.find_one({"_id": owner_id}, session=self._session)
        if doc is not None and doc.get("photo_uploaded_at") and doc["photo_uploaded_at"] >= at:
            return
        await self._profiles.update_one(
            {"_id": owner_id},
            {"$set": {"photo_file_id": file_id, "photo_uploaded_at": at}},
            upsert=True,
            session=self._session,
        )

    async def clear_photo(self, owner_id: str, file_id: str) -> None:
        """Forget the owner's photo if it is `file_id`."""
        await self._profiles.update_one(
            {"_id": owner_id, "photo_file_id": file_id},
            {"$set": {"photo_file_id": None}},
            session=self._session,
        )

    async def erase(self, user_id: str) -> None:
        """Delete the user's profile."""
        await self._profiles.delete_one({"_id": user_id}, session=self._session)


def _profile(doc: Document) -> Profile:
    return Profile(
        user_id=doc["_id"],
        name=doc["name"],
        role=doc["role"],
        specialty=doc.get("specialty"),
        years_experience=doc.get("years_experience"),
        skills=tuple(doc.get("skills") or ()),
        bio=doc.get("bio"),
        location=doc.get("location"),
        photo_file_id=doc.get("photo_file_id"),
    )
