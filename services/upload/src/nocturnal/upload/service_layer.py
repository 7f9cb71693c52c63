"""Use cases on files: upload, read, list, sign, delete, erase; the I/O orchestration around the domain."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession

from nocturnal.shared.clock import utc_now
from nocturnal.shared.events import CloudEvent, EventBus
from nocturnal.shared.ids import new_id
from nocturnal.shared.logging import get_logger
from nocturnal.shared.mongo import in_transaction
from nocturnal.shared.paging import Page, PageRequest
from nocturnal.upload.adapters.file_repository import FileRepository
from nocturnal.upload.adapters.storage import StorageBackend
from nocturnal.upload.domain.files import (
    SNIFF_BYTES,
    EmptyFile,
    FileKind,
    Meter,
    StoredFile,
    clean_filename,
    detect_media_type,
    object_key,
)

log = get_logger("files")


class FileNotFound(Exception):
    """No such file, or not the caller's."""


class FileService:
    """Files of users: bytes in a `StorageBackend`, metadata in MongoDB, events via the outbox.

    Ordering keeps storage and metadata consistent: an upload stores the object first and then
    commits metadata + `file.uploaded` in one transaction (deleting the object when that fails);
    a delete removes the object first (idempotent) and then commits metadata removal +
    `file.deleted`, so a failed delete can simply be retried and never strands bytes.
    """

    def __init__(
        self,
        repository: FileRepository,
        storage: StorageBackend,
        client: AsyncMongoClient[Any],
        bus: EventBus,
    ) -> None:
        self._repository = repository
        self._storage = storage
        self._client = client
        self._bus = bus

    async def upload(
        self, owner_id: str, kind: FileKind, filename: str | None, chunks: AsyncIterator[bytes]
    ) -> StoredFile:
        """Stream a file to storage, then record it and announce `file.uploaded`.

        Raises:
            EmptyFile, UnsupportedMediaType, FileTooLarge: the rules refused it (nothing stored).
            Exception: whatever `chunks` or the stores raised (nothing stored).
        """
        head, chunks = await _peek(chunks, SNIFF_BYTES)
        if not head:
            raise EmptyFile("the file is empty")
        media_type = detect_media_type(kind, head[:SNIFF_BYTES])
        file_id, created_at = new_id(), utc_now()
        key = object_key(kind, media_type, file_id, created_at)
        meter = Meter(kind.max_bytes)
        await self._storage.put(key, meter.measure(chunks), content_type=media_type.value)
        file = StoredFile(
            id=file_id,
            owner_id=owner_id,
            kind=kind,
            key=key,
            content_type=media_type,
            size=meter.size,
            sha256=meter.sha256,
            original_filename=clean_filename(
                filename, fallback=f"{kind.value}.{media_type.extension}"
            ),
            created_at=created_at,
        )

        async def record(session: AsyncClientSession) -> None:
            await self._repository.add(file, session=session)
            await self._bus.outbox.add(self._event("file.uploaded", file), session=session)

        try:
            await in_transaction(self._client, record)
        except BaseException:
            await asyncio.shield(self._storage.delete(key))
            raise
        self._bus.notify()
        log.info(
            "file uploaded",
            file_id=file.id,
            kind=kind.value,
            content_type=media_type.value,
            size=file.size,
        )
        return file

    async def get(self, file_id: str, owner_id: str) -> StoredFile:
        """The owner's file.

        Raises:
            FileNotFound: missing, or owned by someone else.
        """
        file = await self._repository.get(file_id, owner_id=owner_id)
        if file is None:
            raise FileNotFound(file_id)
        return file

    async def any_file(self, file_id: str) -> StoredFile:
        """Any user's file (for trusted internal callers).

        Raises:
            FileNotFound: missing.
        """
        file = await self._repository.get(file_id)
        if file is None:
            raise FileNotFound(file_id)
        return file

    async def newest_first(self, owner_id: str, request: PageRequest) -> Page[StoredFile]:
        """A page of the owner's files, newest first. Raises InvalidCursor."""
        return await self._repository.newest_first(owner_id, request)

    async def signed_url(
        self, file: StoredFile, expires_in: int, *, for_owner: bool = True
    ) -> tuple[str, datetime]:
        """A download URL valid for `expires_in` seconds, and when it expires.

        The owner's link names the download after the original file name; a link made for
        others (a profile photo shown to every member) uses the server-made key name, so the
        uploader's file name is not disclosed.
        """
        expires = int(time.time()) + expires_in
        url = await self._storage.signed_url(
            file.key,
            expires=expires,
            filename=file.original_filename if for_owner else file.key.rsplit("/", 1)[-1],
            content_type=file.content_type.value,
        )
        return url, datetime.fromtimestamp(expires, UTC)

    async def delete(self, file_id: str, owner_id: str) -> None:
        """Delete the owner's file (object, metadata) and announce `file.deleted`.

        Raises:
            FileNotFound: missing, owned by someone else, or deleted concurrently.
        """
        file = await self.get(file_id, owner_id)
        await self._storage.delete(file.key)

        async def forget(session: AsyncClientSession) -> None:
            if not await self._forget(file, session):
                raise FileNotFound(file_id)

        await in_transaction(self._client, forget)
        self._bus.notify()
        log.info("file deleted", file_id=file.id)

    async def erase_owner(self, owner_id: str, session: AsyncClientSession) -> int:
        """Delete every file of `owner_id` inside the caller's transaction; how many were erased.

        Idempotent: run again (e.g. on redelivery) it erases what is left.
        """
        files = await self._repository.owned_by(owner_id, session=session)
        for file in files:
            await self._storage.delete(file.key)
            await self._forget(file, session)
        log.info("erased files of deleted user", owner_id=owner_id, files=len(files))
        return len(files)

    async def _forget(self, file: StoredFile, session: AsyncClientSession) -> bool:
        if not await self._repository.remove(file.id, session=session):
            return False
        await self._bus.outbox.add(self._event("file.deleted", file), session=session)
        return True

    def _event(self, name: str, file: StoredFile) -> CloudEvent:
        return self._bus.event(name, file.event_data(), subject=file.id)


async def _peek(chunks: AsyncIterator[bytes], size: int) -> tuple[bytes, AsyncIterator[bytes]]:
    """The first `size` (or more) bytes of `chunks`, and a stream of all the bytes again."""
    head = bytearray()
    async for chunk in chunks:
        head += chunk
        if len(head) >= size:
            break

    async def replay() -> AsyncIterator[bytes]:
        if head:
            yield bytes(head)
        async for chunk in chunks:
            yield chunk

    return bytes(head), replay()
