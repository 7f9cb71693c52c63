"""The MongoDB file repository against a real server (SecantusDB unless MONGO_URL is set)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from nocturnal.shared.ids import new_id
from nocturnal.shared.mongo import in_transaction
from nocturnal.shared.paging import PageRequest
from nocturnal.upload.adapters.file_repository import MongoFileRepository
from nocturnal.upload.domain.files import FileKind, MediaType, StoredFile, object_key

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
async def repository(db: AsyncDatabase[Any]) -> MongoFileRepository:
    repository = MongoFileRepository(db)
    await repository.ensure_indexes()
    return repository


def a_file(owner_id: str, created_at: datetime = T0, file_id: str | None = None) -> StoredFile:
    file_id = file_id or new_id()
    return StoredFile(
        id=file_id,
        owner_id=owner_id,
        kind=FileKind.DOCUMENT,
        key=object_key(FileKind.DOCUMENT, MediaType.PDF, file_id, created_at),
        content_type=MediaType.PDF,
        size=123,
        sha256="ab" * 32,
        original_filename="Zeugnis.pdf",
        created_at=created_at,
    )


async def add(db: AsyncDatabase[Any], *files: StoredFile) -> None:
    async def work(session: Any) -> None:
        for file in files:
            await MongoFileRepository(db, session).add(file)

    await in_transaction(db.client, work)


async def test_creating_indexes_again_keeps_the_same_indexes(
    db: AsyncDatabase[Any], repository: MongoFileRepository
) -> None:
    before = await db["files"].index_information()
    await repository.ensure_indexes()
    assert await db["files"].index_information() == before
    assert before["key_unique"]["unique"] is True
    assert before["owner_newest_first"]["key"] == [("owner_id", 1), ("created_at", -1), ("_id", -1)]


async def test_a_file_reads_back_equal_and_only_for_its_owner(
    db: AsyncDatabase[Any], repository: MongoFileRepository
) -> None:
    file = a_file("alice")
    await add(db, file)
    assert await repository.get(file.id) == file
    assert await repository.get(file.id, owner_id="alice") == file
    assert await repository.get(file.id, owner_id="bob") is None
    assert await repository.get("missing") is None


async def test_keys_are_unique(db: AsyncDatabase[Any], repository: MongoFileRepository) -> None:
    file = a_file("alice")
    await add(db, file)
    clash = replace(file, id=new_id())
    with pytest.raises(DuplicateKeyError):
        await add(db, clash)


async def test_pages_are_newest_first_with_ties_broken_by_id(
    db: AsyncDatabase[Any], repository: MongoFileRepository
) -> None:
    tied = [a_file("alice", T0, file_id=f"{n:032x}") for n in range(3)]
    older = a_file("alice", T0 - timedelta(minutes=1))
    newer = a_file("alice", T0 + timedelta(minutes=1))
    await add(db, *tied, older, newer, a_file("bob", T0 + timedelta(hours=1)))
    expected = [newer, *reversed(tied), older]
    first = await repository.newest_first("alice", PageRequest(2))
    assert first.items == expected[:2]
    assert first.next_key is not None
    rest = await repository.newest_first("alice", PageRequest(10, first.next_key))
    assert (rest.items, rest.next_key) == (expected[2:], None)


async def test_remove_reports_whether_there_was_something_to_remove(
    db: AsyncDatabase[Any], repository: MongoFileRepository
) -> None:
    file = a_file("alice")
    await add(db, file)
    results: list[bool] = []

    async def remove(session: Any) -> None:
        results.append(await MongoFileRepository(db, session).remove(file.id))

    await in_transaction(db.client, remove)
    await in_transaction(db.client, remove)
    assert results == [True, False]
    assert await repository.get(file.id) is None
