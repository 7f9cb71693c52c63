"""File metadata in MongoDB (`files` collection of `nocturnal_upload`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.shared.keyset import CREATED_NEWEST_FIRST
from nocturnal.shared.paging import Page, PageRequest
from nocturnal.upload.domain.files import FileKind, MediaType, StoredFile

FILES_COLLECTION = "files"


class MongoFileRepository:
    """Stores `StoredFile`s (a `FileRepository`), in `session`'s transaction when one is
    given; document `_id` is the file id.

    Shape: `{_id, owner_id, kind, key, content_type, size, sha256, original_filename,
    created_at}`. Listing is newest first by `(created_at, _id)`.
    """

    def __init__(self, db: AsyncDatabase[Any], session: AsyncClientSession | None = None) -> None:
        self._files: AsyncCollection[Any] = db[FILES_COLLECTION]
        self._session = session

    async def ensure_indexes(self) -> None:
        """Create the indexes (idempotent): the owner's listing order and unique keys."""
        await self._files.create_index(
            [("owner_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="owner_newest_first",
        )
        await self._files.create_index("key", unique=True, name="key_unique")

    async def add(self, file: StoredFile) -> None:
        """Insert `file`."""
        await self._files.insert_one(_document(file), session=self._session)

    async def get(self, file_id: str, *, owner_id: str | None = None) -> StoredFile | None:
        """The file with `file_id` (only if owned by `owner_id`, when given), or None."""
        query: dict[str, Any] = {"_id": file_id}
        if owner_id is not None:
            query["owner_id"] = owner_id
        document = await self._files.find_one(query, session=self._session)
        return None if document is None else _file(document)

    async def newest_first(self, owner_id: str, request: PageRequest) -> Page[StoredFile]:
        """A page of the owner's files, newest first.

        Raises:
            InvalidCursor: the cursor is not a key of this listing.
        """
        return await CREATED_NEWEST_FIRST.page(
            self._files, {"owner_id": owner_id}, request, _file, session=self._session
        )

    async def owned_by(self, owner_id: str) -> list[StoredFile]:
        """All of the owner's files."""
        cursor = self._files.find({"owner_id": owner_id}, session=self._session)
        return [_file(document) async for document in cursor]

    async def keys(self, prefix: str) -> AsyncIterator[tuple[str, datetime]]:
        """`(key, created_at)` of the files under `prefix`, ascending by key (a `FileIndex`)."""
        # A range, not a regex: the unique key index serves it and gives the order.
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        cursor = self._files.find(
            {"key": {"$gte": prefix, "$lt": upper}},
            {"key": 1, "created_at": 1},
            session=self._session,
        ).sort("key", ASCENDING)
        async for document in cursor:
            yield document["key"], document["created_at"]

    async def has_key(self, key: str) -> bool:
        """True when a file's metadata names `key`."""
        found = await self._files.find_one({"key": key}, {"_id": 1}, session=self._session)
        return found is not None

    async def remove(self, file_id: str) -> bool:
        """Delete the file's metadata; False if it was gone."""
        result = await self._files.delete_one({"_id": file_id}, session=self._session)
        return result.deleted_count == 1


def _document(file: StoredFile) -> dict[str, Any]:
    return {
        "_id": file.id,
        "owner_id": file.owner_id,
        "kind": file.kind.value,
        "key": file.key,
        "content_type": file.content_type.value,
        "size": file.size,
        "sha256": file.sha256,
        "original_filename": file.original_filename,
        "created_at": file.created_at,
    }


def _file(document: dict[str, Any]) -> StoredFile:
    return StoredFile(
        id=document["_id"],
        owner_id=document["owner_id"],
        kind=FileKind(document["kind"]),
        key=document["key"],
        content_type=MediaType(document["content_type"]),
        size=document["size"],
        sha256=document["sha256"],
        original_filename=document["original_filename"],
        created_at=document["created_at"],
    )
