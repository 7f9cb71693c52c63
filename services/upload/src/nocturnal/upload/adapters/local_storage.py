"""The `local` storage backend: objects are files in one directory (development default)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

from nocturnal.upload.domain.files import KEY_PATTERN
from nocturnal.upload.domain.signing import UrlSigner
from nocturnal.upload.service_layer import IncompleteUpload, ObjectNotFound, StoredObject

READ_CHUNK_BYTES = 256 * 1024
INCOMING_DIR = ".incoming"


class LocalStorage:
    """Objects as files under `root`; downloads through this service's `/api/files/` route.

    An upload is written to a temporary name inside `root/.incoming` (same file system: the
    key with `/` as `~`, and a random suffix) and renamed into place atomically once complete, so readers never see a partial object; on any
    failure the temporary file is removed. Only server-made keys are accepted as paths.
    """

    name = "local"

    def __init__(self, root: Path, signer: UrlSigner, public_base_url: str) -> None:
        self._root = root
        self._signer = signer
        self._base_url = public_base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        if not KEY_PATTERN.fullmatch(key):
            raise ObjectNotFound(key)
        return self._root / key

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> None:
        """Write `chunks` to a temporary file, then rename it to `key` (atomic)."""
        target = self._path(key)
        incoming = self._root / INCOMING_DIR
        await asyncio.to_thread(incoming.mkdir, parents=True, exist_ok=True)
        temporary = incoming / f"{_flat(key)}.{uuid.uuid4().hex}.part"
        handle = await asyncio.to_thread(temporary.open, "xb")
        try:
            async for chunk in chunks:
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(_finish, handle)
            await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(os.replace, temporary, target)
        except BaseException:
            # Synchronous on purpose: a cancelled task must still clean up before it unwinds.
            handle.close()
            temporary.unlink(missing_ok=True)
            raise

    async def read(self, key: str) -> AsyncGenerator[bytes, None]:
        """The file's bytes in chunks of up to 256 KiB."""
        try:
            handle = await asyncio.to_thread(self._path(key).open, "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectNotFound(key) from None
        try:
            while chunk := await asyncio.to_thread(handle.read, READ_CHUNK_BYTES):
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        """Remove the file if it exists."""
        try:
            path = self._path(key)
        except ObjectNotFound:
            return
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def objects(self, prefix: str) -> AsyncIterator[StoredObject]:
        """The files under `prefix`, in ascending key order."""
        for key, modified in await asyncio.to_thread(self._listing, prefix):
            yield StoredObject(key, modified)

    def _listing(self, prefix: str) -> list[tuple[str, datetime]]:
        top = self._root / prefix.split("/", 1)[0]
        paths = (path for path in top.rglob("*") if path.is_file())
        keys = ((path.relative_to(self._root).as_posix(), path) for path in paths)
        return sorted((key, _modified(path)) for key, path in keys if key.startswith(prefix))

    async def incomplete_uploads(self, prefix: str) -> AsyncIterator[IncompleteUpload]:
        """The temporary files of uploads under `prefix` (left by a killed process)."""
        incoming = self._root / INCOMING_DIR
        parts = await asyncio.to_thread(sorted, incoming.glob(f"{_flat(prefix)}*.part"))
        for part in parts:
            key = part.name.rsplit(".", 2)[0].replace("~", "/")
            yield IncompleteUpload(key, part.name, _modified(part))

    async def abort(self, upload: IncompleteUpload) -> None:
        """Remove the upload's temporary file."""
        part = self._root / INCOMING_DIR / upload.upload_id
        await asyncio.to_thread(part.unlink, missing_ok=True)

    async def signed_url(self, key: str, *, expires: int, filename: str, content_type: str) -> str:
        """`{PUBLIC_BASE_URL}/api/files/{key}?expires=&filename=&signature=` (HMAC-SHA256).

        The content type follows from the key's extension, so it is not in the URL.
        """
        signature = self._signer.sign(key, expires, filename)
        query = urlencode({"expires": expires, "filename": filename, "signature": signature})
        return f"{self._base_url}/api/files/{quote(key)}?{query}"

    async def ready(self) -> bool:
        """True when the storage directory exists and is writable."""
        return await asyncio.to_thread(os.access, self._root, os.W_OK | os.X_OK)


def _flat(key: str) -> str:
    return key.replace("/", "~")


def _modified(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _finish(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
