"""Use cases on files: upload, read, list, sign, delete, erase, download; and what they need of
the world (ports): the file repository and the object storage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from nocturnal.shared.clock import Clock, utc_now
from nocturnal.shared.ids import IdFactory, new_id
from nocturnal.shared.logging import get_logger
from nocturnal.shared.paging import Page, PageRequest
from nocturnal.shared.unit_of_work import Transaction, UnitOfWork
from nocturnal.upload.domain.files import (
    FILE_DELETED,
    FILE_UPLOADED,
    SNIFF_BYTES,
    EmptyFile,
    FileKind,
    FileNotFound,
    MediaType,
    Meter,
    OwnerErased,
    StoredFile,
    clean_filename,
    detect_media_type,
    media_type_of_key,
    object_key,
)
from nocturnal.upload.domain.signing import BadSignature, UrlSigner

log = get_logger("files")


class ObjectNotFound(Exception):
    """No object is stored under the key."""


class StorageBackend(Protocol):
    """Object storage for file bytes, addressed by server-made keys.

    Contract (tests/upload/adapters/test_storage_contract.py holds every backend to it):
    bytes are streamed, never held whole; a `put` that fails for any reason, including the
    source raising or the task being cancelled, leaves no object and no partial upload;
    deleting a missing key succeeds.
    """

    name: str

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> None:
        """Store the bytes of `chunks` under `key` (replacing any object there)."""
        ...

    def read(self, key: str) -> AsyncGenerator[bytes, None]:
        """The object's bytes in chunks.

        Raises:
            ObjectNotFound: on the first iteration, when nothing is stored under `key`.
        """
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing key is not an error."""
        ...

    async def signed_url(self, key: str, *, expires: int, filename: str, content_type: str) -> str:
        """A URL anyone may GET the object with until `expires` (Unix seconds).

        The download answers with `content_type` and an attachment `Content-Disposition`
        naming `filename`.
        """
        ...

    async def ready(self) -> bool:
        """True when the store is reachable and usable (readiness)."""
        ...


class FileRepository(Protocol):
    """File metadata; listing is newest first."""

    async def add(self, file: StoredFile) -> None:
        """Insert `file`."""
        ...

    async def get(self, file_id: str, *, owner_id: str | None = None) -> StoredFile | None:
        """The file with `file_id` (only if owned by `owner_id`, when given), or None."""
        ...

    async def newest_first(self, owner_id: str, request: PageRequest) -> Page[StoredFile]:
        """A page of the owner's files, newest first. Raises InvalidCursor."""
        ...

    async def owned_by(self, owner_id: str) -> list[StoredFile]:
        """All of the owner's files."""
        ...

    async def remove(self, file_id: str) -> bool:
        """Delete the file's metadata; False if it was gone."""
        ...


class ErasureLedger(Protocol):
    """Which users' data was erased (`user.deleted`), claimed by every transaction that stores
    new data of a user so that it and an erasure never overlap unseen."""

    async def claim(self, user_id: str) -> bool:
        """True when new data of `user_id` may be stored in this transaction (which now
        conflicts with a concurrent erasure of the user); False when the user was erased."""
        ...

    async def mark_erased(self, user_id: str, now: datetime) -> None:
        """Mark `user_id` erased, in the erasure's transaction."""
        ...


@dataclass(frozen=True)
class Repositories:
    """The upload service's repositories, bound to one transaction (or to none, for reads)."""

    files: FileRepository
    erasures: ErasureLedger


Tx = Transaction[Repositories]


class FileService:
    """Files of users: bytes in a `StorageBackend`, metadata and events in one unit of work.

    Ordering keeps storage and metadata consistent: an upload stores the object first and then
    commits metadata + `file.uploaded` (deleting the object when that fails); a delete removes
    the object first (idempotent) and then commits metadata removal + `file.deleted`, so a
    failed delete can simply be retried and never strands bytes.

    An upload racing its owner's erasure leaves nothing behind: the transaction that records an
    upload claims the owner in the erasure ledger, and the erasure marks the owner there, so
    the two conflict and run one after the other. Recorded first, the file is then found
    and erased; erased first, the upload is refused and its object deleted. An erasure that
    arrives before the upload finishes is the second case.
    """

    def __init__(
        self,
        uow: UnitOfWork[Repositories],
        storage: StorageBackend,
        *,
        clock: Clock = utc_now,
        ids: IdFactory = new_id,
    ) -> None:
        self._uow = uow
        self._storage = storage
        self._clock = clock
        self._ids = ids

    async def upload(
        self, owner_id: str, kind: FileKind, filename: str | None, chunks: AsyncIterator[bytes]
    ) -> StoredFile:
        """Stream a file to storage, then record it and announce `file.uploaded`.

        Raises:
            EmptyFile, UnsupportedMediaType, FileTooLarge: the rules refused it (nothing stored).
            OwnerErased: the owner's data was erased meanwhile (the object is deleted again).
            Exception: whatever `chunks` or the stores raised (nothing stored).
        """
        head, chunks = await _peek(chunks, SNIFF_BYTES)
        if not head:
            raise EmptyFile("the file is empty")
        media_type = detect_media_type(kind, head[:SNIFF_BYTES])
        file_id, created_at = self._ids(), self._clock()
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

        async def record(tx: Tx) -> None:
            if not await tx.repositories.erasures.claim(owner_id):
                raise OwnerErased(owner_id)
            await tx.repositories.files.add(file)
            tx.publish(file.event(FILE_UPLOADED))

        try:
            await self._uow.run(record)
        except BaseException:
            await asyncio.shield(self._storage.delete(key))
            raise
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
        file = await self._uow.repositories.files.get(file_id, owner_id=owner_id)
        if file is None:
            raise FileNotFound(file_id)
        return file

    async def newest_first(self, owner_id: str, request: PageRequest) -> Page[StoredFile]:
        """A page of the owner's files, newest first. Raises InvalidCursor."""
        return await self._uow.repositories.files.newest_first(owner_id, request)

    async def signed_url(self, file_id: str, owner_id: str, expires_in: int) -> SignedUrl:
        """A download URL of the owner's file, valid for `expires_in` seconds, named after the
        original file name.

        Raises:
            FileNotFound: missing, or owned by someone else.
        """
        file = await self.get(file_id, owner_id)
        return await self._sign(file, expires_in, file.original_filename)

    async def shared_url(self, file_id: str, expires_in: int) -> SignedUrl:
        """A download URL of any user's file for other members (a profile photo shown to
        everyone), for trusted internal callers. It names the download after the server-made
        key, so the uploader's file name is not disclosed.

        Raises:
            FileNotFound: missing.
        """
        file = await self._uow.repositories.files.get(file_id)
        if file is None:
            raise FileNotFound(file_id)
        return await self._sign(file, expires_in, file.key.rsplit("/", 1)[-1])

    async def delete(self, file_id: str, owner_id: str) -> None:
        """Delete the owner's file (object, metadata) and announce `file.deleted`.

        Raises:
            FileNotFound: missing, owned by someone else, or deleted concurrently.
        """
        file = await self.get(file_id, owner_id)
        await self._storage.delete(file.key)

        async def forget(tx: Tx) -> None:
            if not await self._forget(tx, file):
                raise FileNotFound(file_id)

        await self._uow.run(forget)
        log.info("file deleted", file_id=file.id)

    async def erase_owner(self, tx: Tx, owner_id: str) -> int:
        """`user.deleted`: delete every file of `owner_id` (objects, then metadata with a
        `file.deleted` each) inside `tx`, and refuse their uploads from now on; how many files
        were erased.

        Idempotent: run again (e.g. on redelivery) it erases what is left.
        """
        files = await tx.repositories.files.owned_by(owner_id)
        for file in files:
            await self._storage.delete(file.key)
            await self._forget(tx, file)
        await tx.repositories.erasures.mark_erased(owner_id, self._clock())
        log.info("erased files of deleted user", owner_id=owner_id, files=len(files))
        return len(files)

    async def _sign(self, file: StoredFile, expires_in: int, filename: str) -> SignedUrl:
        expires = int(self._clock().timestamp()) + expires_in
        url = await self._storage.signed_url(
            file.key, expires=expires, filename=filename, content_type=file.content_type.value
        )
        return SignedUrl(url, datetime.fromtimestamp(expires, UTC))

    async def _forget(self, tx: Tx, file: StoredFile) -> bool:
        if not await tx.repositories.files.remove(file.id):
            return False
        tx.publish(file.event(FILE_DELETED))
        return True


@dataclass(frozen=True)
class SignedUrl:
    """A download URL and when it stops working."""

    url: str
    expires_at: datetime


@dataclass(frozen=True)
class Download:
    """An object ready to stream: its media type, its first chunk, and the rest."""

    media_type: MediaType
    first: bytes
    rest: AsyncGenerator[bytes, None]


class Downloads:
    """Downloads through signed links (the `local` backend's `/api/files/` route): no
    database lookup, the link itself is the authorisation."""

    def __init__(self, storage: StorageBackend, signer: UrlSigner, *, clock: Clock = utc_now):
        self._storage = storage
        self._signer = signer
        self._clock = clock

    async def open(self, key: str, *, expires: int, filename: str, signature: str) -> Download:
        """The object under `key`, if the link `(key, expires, filename, signature)` is ours and
        unexpired. The caller must close `rest` (e.g. `contextlib.aclosing`).

        Raises:
            BadSignature: not our signature, or expired.
            FileNotFound: not a key of ours, or nothing stored under it.
        """
        now = int(self._clock().timestamp())
        if not self._signer.verify(key, expires, filename, signature, now=now):
            raise BadSignature(key)
        try:
            media_type = media_type_of_key(key)
        except ValueError:
            raise FileNotFound(key) from None
        chunks = self._storage.read(key)
        try:
            first = await anext(chunks, b"")
        except ObjectNotFound:
            await chunks.aclose()
            raise FileNotFound(key) from None
        return Download(media_type, first, chunks)


@dataclass(frozen=True)
class StoredObject:
    """An object in storage: its key and when it was last written."""

    key: str
    modified: datetime


@dataclass(frozen=True)
class IncompleteUpload:
    """An upload begun and never completed nor aborted (an S3 multipart upload, a local
    temporary file)."""

    key: str
    upload_id: str
    initiated: datetime


class ObjectInventory(Protocol):
    """What the reconciler needs of the storage beyond `StorageBackend`: listing it."""

    def objects(self, prefix: str) -> AsyncIterator[StoredObject]:
        """Every object whose key starts with `prefix`, in ascending key order (bytewise)."""
        ...

    def incomplete_uploads(self, prefix: str) -> AsyncIterator[IncompleteUpload]:
        """Every incomplete upload whose key starts with `prefix`."""
        ...

    async def abort(self, upload: IncompleteUpload) -> None:
        """Abort `upload`, dropping its parts; one that is already gone is not an error."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing key is not an error."""
        ...


class FileIndex(Protocol):
    """The metadata's object keys, for reconciling them with the storage."""

    def keys(self, prefix: str) -> AsyncIterator[tuple[str, datetime]]:
        """`(key, created_at)` of every file whose key starts with `prefix`, ascending by key."""
        ...

    async def has_key(self, key: str) -> bool:
        """True when a file's metadata names `key`."""
        ...


@dataclass
class Reconciliation:
    """What one reconciliation found (and, unless `dry_run`, did): keys of the aborted
    incomplete uploads, of the deleted objects without metadata, and of the files whose
    object is missing (reported only: their metadata stays for an operator to judge)."""

    dry_run: bool
    aborted_uploads: list[str] = field(default_factory=list)
    deleted_objects: list[str] = field(default_factory=list)
    missing_objects: list[str] = field(default_factory=list)


class Reconciler:
    """Keeps the storage and the metadata consistent where a crash could leave them apart.

    Under every kind's key prefix (`profile-photos/`, `documents/`) it aborts incomplete
    uploads begun more than `upload_age` ago (a process killed mid-upload), deletes objects
    older than `grace` that no file's metadata names (an upload that stored its object and
    died before recording it), and reports files older than `grace` whose object is gone.
    `grace` keeps it off uploads in progress: an upload records its metadata right after its
    object is stored, and a delete removes the object just before the metadata. Objects and
    metadata are walked side by side in key order, so memory stays constant whatever the
    bucket's size; an object is re-checked against the metadata just before it is deleted.
    """

    def __init__(
        self,
        inventory: ObjectInventory,
        index: FileIndex,
        *,
        upload_age: timedelta,
        grace: timedelta,
        clock: Clock = utc_now,
    ) -> None:
        self._inventory = inventory
        self._index = index
        self._upload_age = upload_age
        self._grace = grace
        self._clock = clock

    async def run(self, *, dry_run: bool = False) -> Reconciliation:
        """Reconcile every prefix once; with `dry_run`, only report what would be done."""
        report = Reconciliation(dry_run)
        now = self._clock()
        for prefix in (f"{kind.plural}/" for kind in FileKind):
            await self._abort_stale_uploads(prefix, now - self._upload_age, report)
            await self._compare(prefix, now - self._grace, report)
        if report.aborted_uploads or report.deleted_objects or report.missing_objects:
            log.warning(
                "storage reconciled",
                dry_run=dry_run,
                aborted_uploads=report.aborted_uploads,
                deleted_objects=report.deleted_objects,
                missing_objects=report.missing_objects,
            )
        return report

    async def _abort_stale_uploads(
        self, prefix: str, before: datetime, report: Reconciliation
    ) -> None:
        async for upload in self._inventory.incomplete_uploads(prefix):
            if upload.initiated < before:
                if not report.dry_run:
                    await self._inventory.abort(upload)
                report.aborted_uploads.append(upload.key)

    async def _compare(self, prefix: str, before: datetime, report: Reconciliation) -> None:
        objects = aiter(self._inventory.objects(prefix))
        files = aiter(self._index.keys(prefix))
        stored, recorded = await anext(objects, None), await anext(files, None)
        while stored is not None or recorded is not None:
            if recorded is None or (stored is not None and stored.key < recorded[0]):
                assert stored is not None
                if stored.modified < before:
                    await self._delete_orphan(stored.key, report)
                stored = await anext(objects, None)
            elif stored is None or recorded[0] < stored.key:
                if recorded[1] < before:
                    report.missing_objects.append(recorded[0])
                recorded = await anext(files, None)
            else:
                stored, recorded = await anext(objects, None), await anext(files, None)

    async def _delete_orphan(self, key: str, report: Reconciliation) -> None:
        if await self._index.has_key(key):
            return
        if not report.dry_run:
            await self._inventory.delete(key)
        report.deleted_objects.append(key)


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
