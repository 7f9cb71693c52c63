"""One contract every `StorageBackend` passes: local directory and S3 (a real moto server)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioboto3
import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from nocturnal.shared.clock import utc_now
from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.http.app import create_service_app
from nocturnal.shared.ids import new_id
from nocturnal.upload.adapters.local_storage import INCOMING_DIR, LocalStorage
from nocturnal.upload.adapters.s3_storage import MIN_PART_BYTES, open_s3_storage
from nocturnal.upload.domain.files import FileKind, MediaType, object_key
from nocturnal.upload.domain.signing import UrlSigner
from nocturnal.upload.handlers.downloads import download_file
from nocturnal.upload.handlers.errors import PROBLEMS
from nocturnal.upload.keys import DOWNLOADS
from nocturnal.upload.service_layer import Downloads, ObjectNotFound, StorageBackend

# Integration: the s3 backend's server is requested at run time, where no mark can see it.
pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@dataclass
class Backend:
    """A backend under test plus ways to look behind it."""

    storage: StorageBackend
    objects: Callable[[], Awaitable[set[str]]]
    incomplete_uploads: Callable[[], Awaitable[list[str]]]


async def _local_backend(tmp_path: Path, port: int) -> AsyncIterator[Backend]:
    signer = UrlSigner(os.urandom(32))
    root = tmp_path / "objects"
    root.mkdir()
    storage = LocalStorage(root, signer, f"http://127.0.0.1:{port}")
    # The download route the gateway sends /api/files/ to, as the upload app serves it.
    app = create_service_app(
        ServiceSettings(NOCTURNAL_ENV="test"), service="upload", problems=PROBLEMS
    )
    app[DOWNLOADS] = Downloads(storage, signer)
    app.router.add_get("/api/files/{key:.+}", download_file)

    async def objects() -> set[str]:
        files = (p for p in root.rglob("*") if p.is_file() and INCOMING_DIR not in p.parts)
        return {p.relative_to(root).as_posix() for p in files}

    async def incomplete_uploads() -> list[str]:
        return [p.name for p in (root / INCOMING_DIR).glob("*")]

    async with TestServer(app, port=port):
        yield Backend(storage, objects, incomplete_uploads)


async def _s3_backend(endpoint_url: str) -> AsyncIterator[Backend]:
    bucket = f"contract-{uuid.uuid4().hex[:12]}"
    session = aioboto3.Session()
    async with (
        open_s3_storage(
            bucket=bucket,
            region="us-east-1",
            endpoint_url=endpoint_url,
            create_bucket=True,
            part_bytes=MIN_PART_BYTES,
        ) as storage,
        session.client("s3", endpoint_url=endpoint_url, region_name="us-east-1") as s3,
    ):

        async def objects() -> set[str]:
            listing = await s3.list_objects_v2(Bucket=bucket)
            return {item["Key"] for item in listing.get("Contents", [])}

        async def incomplete_uploads() -> list[str]:
            listing = await s3.list_multipart_uploads(Bucket=bucket)
            return [upload["Key"] for upload in listing.get("Uploads", [])]

        yield Backend(storage, objects, incomplete_uploads)


@pytest.fixture(params=["local", "s3"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, unused_tcp_port: int
) -> AsyncIterator[Backend]:
    if request.param == "local":
        async for backend in _local_backend(tmp_path, unused_tcp_port):
            yield backend
    else:
        request.getfixturevalue("aws_credentials")
        endpoint_url = request.getfixturevalue("s3_endpoint_url")
        async for backend in _s3_backend(endpoint_url):
            yield backend


def a_key(media_type: MediaType = MediaType.PDF) -> str:
    return object_key(FileKind.DOCUMENT, media_type, new_id(), utc_now())


async def chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_all(storage: StorageBackend, key: str) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key)])


async def fetch(url: str) -> tuple[int, Any, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers, await response.read()


@pytest.mark.parametrize("size", [1, 100 * 1024, 12 * MiB + 5])
async def test_streamed_bytes_come_back_equal(backend: Backend, size: int) -> None:
    data = os.urandom(size)
    key = a_key()
    await backend.storage.put(key, chunked(data), content_type=MediaType.PDF.value)
    stored = await read_all(backend.storage, key)
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    assert await backend.objects() == {key}
    assert await backend.incomplete_uploads() == []


async def test_a_signed_url_downloads_the_bytes_as_an_attachment(backend: Backend) -> None:
    data = os.urandom(300 * 1024)
    key = a_key(MediaType.PNG)
    await backend.storage.put(key, chunked(data), content_type=MediaType.PNG.value)
    url = await backend.storage.signed_url(
        key, expires=int(time.time()) + 60, filename="Röntgen bild.png", content_type="image/png"
    )
    status, headers, body = await fetch(url)
    assert status == 200
    assert body == data
    assert headers["Content-Type"] == "image/png"
    assert headers["Content-Disposition"] == (
        "attachment; filename=\"Rontgen bild.png\"; filename*=UTF-8''R%C3%B6ntgen%20bild.png"
    )


class SourceFailed(Exception):
    pass


async def failing_after(data: bytes) -> AsyncIterator[bytes]:
    async for chunk in chunked(data):
        yield chunk
    raise SourceFailed


@pytest.mark.parametrize("sent", [10, 2 * MIN_PART_BYTES + 1])
async def test_a_failed_upload_leaves_no_object_and_no_partial_upload(
    backend: Backend, sent: int
) -> None:
    key = a_key()
    with pytest.raises(SourceFailed):
        await backend.storage.put(key, failing_after(os.urandom(sent)), content_type="x/y")
    assert await backend.objects() == set()
    assert await backend.incomplete_uploads() == []
    with pytest.raises(ObjectNotFound):
        await read_all(backend.storage, key)


async def test_a_cancelled_upload_leaves_no_object_and_no_partial_upload(
    backend: Backend,
) -> None:
    started = asyncio.Event()

    async def stalls_after_a_part() -> AsyncIterator[bytes]:
        async for chunk in chunked(os.urandom(MIN_PART_BYTES + 1)):
            yield chunk
        started.set()
        await asyncio.Event().wait()
        yield b"never"

    upload = asyncio.create_task(
        backend.storage.put(a_key(), stalls_after_a_part(), content_type="application/pdf")
    )
    await asyncio.wait_for(started.wait(), 30)
    await asyncio.sleep(0.2)
    upload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload
    assert await backend.objects() == set()
    assert await backend.incomplete_uploads() == []


async def test_delete_removes_the_object_and_a_missing_key_is_no_error(
    backend: Backend,
) -> None:
    key = a_key()
    await backend.storage.put(key, chunked(b"%PDF-1.7 tiny"), content_type="application/pdf")
    await backend.storage.delete(key)
    await backend.storage.delete(key)
    await backend.storage.delete(a_key())
    assert await backend.objects() == set()
    with pytest.raises(ObjectNotFound):
        await read_all(backend.storage, key)


async def test_the_store_reports_ready(backend: Backend) -> None:
    assert await backend.storage.ready()
