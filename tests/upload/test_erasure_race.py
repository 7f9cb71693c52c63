"""An upload racing its owner's erasure on the real stores (MongoDB, local storage): whichever
transaction comes second sees the first, so no object or record is left behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from outbox_only import OutboxOnlyBus
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.shared.erasure import MongoErasureLedger
from nocturnal.shared.mongo import MongoUnitOfWork
from nocturnal.upload.adapters.file_repository import MongoFileRepository
from nocturnal.upload.adapters.local_storage import LocalStorage
from nocturnal.upload.domain.files import FileKind, OwnerErased
from nocturnal.upload.domain.signing import UrlSigner
from nocturnal.upload.service_layer import FileService, Repositories
from upload.support import image_bytes

PNG = image_bytes("PNG")
HELD_S = 0.5


class HeldLedger(MongoErasureLedger):
    """Holds its transaction open for `HELD_S` after claiming or marking (`done` is then set)."""

    def __init__(
        self, db: AsyncDatabase[Any], session: AsyncClientSession | None, done: asyncio.Event
    ) -> None:
        super().__init__(db, session)
        self._done = done

    async def claim(self, user_id: str) -> bool:
        allowed = await super().claim(user_id)
        await self._hold()
        return allowed

    async def mark_erased(self, user_id: str, now: datetime) -> None:
        await super().mark_erased(user_id, now)
        await self._hold()

    async def _hold(self) -> None:
        self._done.set()
        await asyncio.sleep(HELD_S)


class Instance:
    """An upload instance on the real stores: its use cases and its unit of work (whose
    transactions the erasure runs in, as the inbox consumer's would be)."""

    def __init__(
        self, db: AsyncDatabase[Any], storage: LocalStorage, held: asyncio.Event | None = None
    ) -> None:
        def bind(session: AsyncClientSession | None) -> Repositories:
            ledger = (
                MongoErasureLedger(db, session) if held is None else HeldLedger(db, session, held)
            )
            return Repositories(files=MongoFileRepository(db, session), erasures=ledger)

        self.uow = MongoUnitOfWork(db.client, bind, OutboxOnlyBus(db, "upload"))
        self.files = FileService(self.uow, storage)

    async def erase(self, owner_id: str) -> int:
        return await self.uow.run(lambda tx: self.files.erase_owner(tx, owner_id))


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path, UrlSigner(b"s" * 32), "http://upload.test")


def objects(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


async def png() -> AsyncIterator[bytes]:
    yield PNG


async def test_an_erasure_started_while_the_upload_is_recorded_erases_it_too(
    db: AsyncDatabase[Any], storage: LocalStorage, tmp_path: Path
) -> None:
    recording = asyncio.Event()
    uploading, erasing = Instance(db, storage, recording), Instance(db, storage)

    async def erase_once_recording() -> int:
        await recording.wait()
        return await erasing.erase("alice")

    file, erased = await asyncio.gather(
        uploading.files.upload("alice", FileKind.DOCUMENT, "a.png", png()),
        erase_once_recording(),
    )
    assert (file.owner_id, erased) == ("alice", 1)
    assert objects(tmp_path) == []
    assert await MongoFileRepository(db).owned_by("alice") == []


async def test_an_upload_recorded_while_the_erasure_runs_is_refused_and_its_object_deleted(
    db: AsyncDatabase[Any], storage: LocalStorage, tmp_path: Path
) -> None:
    marking = asyncio.Event()
    uploading, erasing = Instance(db, storage), Instance(db, storage, marking)

    async def upload_once_marking() -> None:
        await marking.wait()
        await uploading.files.upload("alice", FileKind.DOCUMENT, "a.png", png())

    results = await asyncio.gather(
        erasing.erase("alice"), upload_once_marking(), return_exceptions=True
    )
    assert results[0] == 0
    assert isinstance(results[1], OwnerErased)
    assert objects(tmp_path) == []
    assert await MongoFileRepository(db).owned_by("alice") == []
