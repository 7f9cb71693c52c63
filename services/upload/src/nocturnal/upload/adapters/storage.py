"""The `StorageBackend` interface every object store implements (local directory, S3)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable
from typing import Protocol


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
