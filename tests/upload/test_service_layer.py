"""The upload use cases on in-memory stores: what an upload, a delete, an erasure and a
download store, publish and refuse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from nocturnal.shared.paging import PageRequest
from nocturnal.upload.domain.files import (
    EmptyFile,
    FileKind,
    FileNotFound,
    FileTooLarge,
    OwnerErased,
    UnsupportedMediaType,
)
from nocturnal.upload.domain.signing import BadSignature
from upload.fakes import FakeUpload
from upload.support import image_bytes

PNG = image_bytes("PNG")
FIRST_ID = f"{1:032x}"


async def chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.fixture
def upload() -> FakeUpload:
    return FakeUpload()


async def test_an_upload_stores_the_bytes_and_the_metadata_and_announces_it(
    upload: FakeUpload,
) -> None:
    file = await upload.service.upload("alice", FileKind.PROFILE_PHOTO, "me.png", chunks(PNG))
    assert (file.id, file.created_at, file.size) == (FIRST_ID, upload.clock.now, len(PNG))
    assert file.key == f"profile-photos/2026-11-30/{FIRST_ID}.png"
    assert upload.storage.objects == {file.key: PNG}
    assert upload.files.stored == {file.id: file}
    [event] = upload.uow.published
    assert (event.name, event.subject, event.data["owner_id"]) == (
        "file.uploaded",
        file.id,
        "alice",
    )


@pytest.mark.parametrize(
    ("data", "kind", "error"),
    [
        (b"", FileKind.DOCUMENT, EmptyFile),
        (b"just text, not a picture\n" * 10, FileKind.PROFILE_PHOTO, UnsupportedMediaType),
        (PNG + bytes(5 * 1024 * 1024), FileKind.PROFILE_PHOTO, FileTooLarge),
    ],
)
async def test_a_refused_upload_stores_nothing(
    upload: FakeUpload, data: bytes, kind: FileKind, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await upload.service.upload("alice", kind, "x", chunks(data, 64 * 1024))
    assert (upload.storage.objects, upload.files.stored, upload.uow.published) == ({}, {}, [])


async def test_when_the_metadata_cannot_be_stored_the_object_is_removed(
    upload: FakeUpload,
) -> None:
    upload.files.failing = True
    with pytest.raises(ConnectionError):
        await upload.service.upload("alice", FileKind.DOCUMENT, "x.png", chunks(PNG))
    assert upload.storage.objects == {}


async def test_files_are_the_owners_alone_and_listed_newest_first(upload: FakeUpload) -> None:
    first = await upload.service.upload("alice", FileKind.DOCUMENT, "a.png", chunks(PNG))
    upload.clock.advance(1)
    second = await upload.service.upload("alice", FileKind.DOCUMENT, "b.png", chunks(PNG))
    with pytest.raises(FileNotFound):
        await upload.service.get(first.id, "bob")
    page = await upload.service.newest_first("alice", PageRequest(limit=1))
    assert page.items == [second]
    rest = await upload.service.newest_first("alice", PageRequest(1, page.next_key))
    assert (rest.items, rest.next_key) == ([first], None)


async def test_links_expire_after_their_lifetime_and_shared_ones_hide_the_name(
    upload: FakeUpload,
) -> None:
    file = await upload.service.upload("alice", FileKind.DOCUMENT, "Zeugnis.png", chunks(PNG))
    own = await upload.service.signed_url(file.id, "alice", 60)
    assert own.expires_at == upload.clock.now + timedelta(seconds=60)
    assert own.url.endswith("filename=Zeugnis.png")
    shared = await upload.service.shared_url(file.id, 60)
    assert shared.url.endswith(f"filename={FIRST_ID}.png")
    with pytest.raises(FileNotFound):
        await upload.service.signed_url(file.id, "bob", 60)


async def test_a_delete_removes_object_and_metadata_once(upload: FakeUpload) -> None:
    file = await upload.service.upload("alice", FileKind.DOCUMENT, "x.png", chunks(PNG))
    await upload.service.delete(file.id, "alice")
    assert (upload.storage.objects, upload.files.stored) == ({}, {})
    assert upload.uow.names() == ["file.uploaded", "file.deleted"]
    with pytest.raises(FileNotFound):
        await upload.service.delete(file.id, "alice")


async def test_erasing_an_owner_removes_their_files_only_and_again_nothing(
    upload: FakeUpload,
) -> None:
    doomed = await upload.service.upload("alice", FileKind.DOCUMENT, "x.png", chunks(PNG))
    kept = await upload.service.upload("bob", FileKind.DOCUMENT, "y.png", chunks(PNG))
    tx = upload.uow.transaction()
    assert await upload.service.erase_owner(tx, "alice") == 1
    assert [(e.name, e.subject) for e in tx.events] == [("file.deleted", doomed.id)]
    assert list(upload.files.stored) == [kept.id]
    assert list(upload.storage.objects) == [kept.key]
    assert await upload.service.erase_owner(upload.uow.transaction(), "alice") == 0
    assert upload.erasures.erased == {"alice": upload.clock.now}


async def test_an_upload_finishing_after_its_owner_was_erased_is_refused_and_leaves_nothing(
    upload: FakeUpload,
) -> None:
    await upload.service.erase_owner(upload.uow.transaction(), "alice")
    with pytest.raises(OwnerErased):
        await upload.service.upload("alice", FileKind.DOCUMENT, "x.png", chunks(PNG))
    assert (upload.storage.objects, upload.files.stored, upload.uow.published) == ({}, {}, [])
    assert upload.erasures.claims == ["alice"]


async def test_an_erasure_arriving_while_the_bytes_stream_refuses_the_upload(
    upload: FakeUpload,
) -> None:
    async def erased_midway() -> AsyncIterator[bytes]:
        yield PNG[:100]
        await upload.service.erase_owner(upload.uow.transaction(), "alice")
        yield PNG[100:]

    with pytest.raises(OwnerErased):
        await upload.service.upload("alice", FileKind.DOCUMENT, "x.png", erased_midway())
    assert (upload.storage.objects, upload.files.stored) == ({}, {})


async def test_a_download_needs_our_unexpired_signature_and_a_stored_object(
    upload: FakeUpload,
) -> None:
    file = await upload.service.upload("alice", FileKind.DOCUMENT, "x.png", chunks(PNG))
    expires = int(upload.clock.now.timestamp()) + 60
    signature = upload.signer.sign(file.key, expires, "x.png")
    download = await upload.downloads.open(
        file.key, expires=expires, filename="x.png", signature=signature
    )
    assert (download.media_type.value, download.first) == ("image/png", PNG)
    await download.rest.aclose()
    with pytest.raises(BadSignature):
        await upload.downloads.open(
            file.key, expires=expires, filename="y.png", signature=signature
        )
    upload.clock.advance(61)
    with pytest.raises(BadSignature):
        await upload.downloads.open(
            file.key, expires=expires, filename="x.png", signature=signature
        )
    later = expires + 3600
    await upload.storage.delete(file.key)
    with pytest.raises(FileNotFound):
        await upload.downloads.open(
            file.key,
            expires=later,
            filename="x",
            signature=upload.signer.sign(file.key, later, "x"),
        )
    with pytest.raises(FileNotFound):
        await upload.downloads.open(
            "../etc/passwd",
            expires=later,
            filename="x",
            signature=upload.signer.sign("../etc/passwd", later, "x"),
        )
