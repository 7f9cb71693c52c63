"""In-memory file repository and object storage of the upload service, for unit tests."""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator, AsyncIterable

from fakes import Clock, FakeErasureLedger, FakeUnitOfWork, page_of

from nocturnal.shared.clock import rfc3339
from nocturnal.shared.paging import Page, PageRequest
from nocturnal.upload.domain.files import StoredFile
from nocturnal.upload.domain.signing import UrlSigner
from nocturnal.upload.service_layer import Downloads, FileService, ObjectNotFound, Repositories


class FakeFiles:
    """`FileRepository` in a dict; `failing` makes `add` fail (a database outage)."""

    def __init__(self) -> None:
        self.stored: dict[str, StoredFile] = {}
        self.failing = False

    async def add(self, file: StoredFile) -> None:
        if self.failing:
            raise ConnectionError("the database went away")
        self.stored[file.id] = file

    async def get(self, file_id: str, *, owner_id: str | None = None) -> StoredFile | None:
        file = self.stored.get(file_id)
        return file if file is not None and owner_id in (None, file.owner_id) else None

    async def newest_first(self, owner_id: str, request: PageRequest) -> Page[StoredFile]:
        mine = [f for f in self.stored.values() if f.owner_id == owner_id]
        return page_of(mine, request, lambda f: [rfc3339(f.created_at), f.id], descending=True)

    async def owned_by(self, owner_id: str) -> list[StoredFile]:
        return [f for f in self.stored.values() if f.owner_id == owner_id]

    async def remove(self, file_id: str) -> bool:
        return self.stored.pop(file_id, None) is not None


class FakeStorage:
    """`StorageBackend` in a dict: a failed `put` leaves nothing, as the contract demands."""

    name = "fake"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> None:
        data = bytearray()
        async for chunk in chunks:
            data += chunk
        self.objects[key] = bytes(data)

    async def read(self, key: str) -> AsyncGenerator[bytes, None]:
        if key not in self.objects:
            raise ObjectNotFound(key)
        yield self.objects[key]

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def signed_url(self, key: str, *, expires: int, filename: str, content_type: str) -> str:
        return f"https://files.example/{key}?expires={expires}&filename={filename}"

    async def ready(self) -> bool:
        return True


class FakeUpload:
    """The upload use cases on in-memory stores, a fixed clock and predictable ids."""

    def __init__(self) -> None:
        self.files, self.storage = FakeFiles(), FakeStorage()
        self.erasures = FakeErasureLedger()
        self.uow = FakeUnitOfWork(Repositories(self.files, self.erasures))
        self.clock = Clock()
        self.signer = UrlSigner(b"s" * 32)
        numbers = itertools.count(1)
        self.service = FileService(
            self.uow, self.storage, clock=self.clock, ids=lambda: f"{next(numbers):032x}"
        )
        self.downloads = Downloads(self.storage, self.signer, clock=self.clock)
