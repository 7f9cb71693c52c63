"""POST /api/uploads: streamed, typed by magic bytes, size-limited, all-or-nothing."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from polling import eventually
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient
from timestamps import is_rfc3339_millis

from nocturnal.upload.adapters.local_storage import INCOMING_DIR
from nocturnal.upload.app import create_app
from nocturnal.upload.settings import UploadSettings

from ..support import FileEvents, SettingsFactory
from .actions import DOCUMENT, PHOTO, problem, stored_objects, upload
from .multipart_bodies import CONTENT_TYPE, body, chunked, part, single

MiB = 1024 * 1024


async def nothing_stored(
    client: TestClient, settings: UploadSettings, auth: dict[str, str]
) -> None:
    assert stored_objects(settings) == []
    listing = await (await client.get("/api/uploads", headers=auth)).json()
    assert listing["items"] == []


@pytest.mark.parametrize(
    ("url", "sample", "content_type", "extension"),
    [
        (PHOTO, "jpeg", "image/jpeg", "jpg"),
        (PHOTO, "png", "image/png", "png"),
        (PHOTO, "webp", "image/webp", "webp"),
        (DOCUMENT, "pdf", "application/pdf", "pdf"),
        (DOCUMENT, "jpeg", "image/jpeg", "jpg"),
        (DOCUMENT, "png", "image/png", "png"),
    ],
)
async def test_real_files_are_stored_with_the_type_their_bytes_show(
    client: TestClient,
    settings: UploadSettings,
    auth: dict[str, str],
    samples: dict[str, bytes],
    url: str,
    sample: str,
    content_type: str,
    extension: str,
) -> None:
    data = samples[sample]
    response = await upload(client, url, single(data, filename=f"mine.{extension}"), auth)
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["content_type"] == content_type
    assert created["kind"] == url.rpartition("=")[2]
    assert created["size"] == len(data)
    assert created["sha256"] == hashlib.sha256(data).hexdigest()
    assert created["original_filename"] == f"mine.{extension}"
    assert re.fullmatch(r"[0-9a-f]{32}", created["id"])
    assert is_rfc3339_millis(created["created_at"])
    assert (
        abs(datetime.fromisoformat(created["created_at"]) - datetime.now(UTC)).total_seconds() < 30
    )
    [stored] = stored_objects(settings)
    key = stored.relative_to(settings.storage_local_dir).as_posix()
    assert re.fullmatch(
        rf"(profile-photos|documents)/\d{{4}}-\d{{2}}-\d{{2}}/{created['id']}\.{extension}", key
    )
    assert stored.read_bytes() == data
    assert "RateLimit" in response.headers and "RateLimit-Policy" in response.headers


async def test_a_png_named_pdf_and_sent_as_pdf_is_stored_as_png(
    client: TestClient, settings: UploadSettings, auth: dict[str, str], samples: dict[str, bytes]
) -> None:
    data = single(samples["png"], filename="x.pdf", content_type="application/pdf")
    response = await upload(client, DOCUMENT, data, auth)
    assert response.status == 201
    created = await response.json()
    assert created["content_type"] == "image/png"
    assert created["original_filename"] == "x.pdf"
    [stored] = stored_objects(settings)
    assert stored.suffix == ".png"


@pytest.mark.parametrize(
    ("url", "sample"),
    [(DOCUMENT, "exe"), (DOCUMENT, "zip"), (DOCUMENT, "text"), (PHOTO, "pdf"), (PHOTO, "gif")],
)
async def test_files_of_other_types_are_refused_with_415_and_nothing_stored(
    client: TestClient,
    settings: UploadSettings,
    auth: dict[str, str],
    samples: dict[str, bytes],
    url: str,
    sample: str,
) -> None:
    data = single(samples[sample], filename="innocent.png", content_type="image/png")
    document = await problem(await upload(client, url, data, auth), 415)
    assert "must be one of" in document["detail"]
    await nothing_stored(client, settings, auth)


def padded(head: bytes, size: int) -> bytes:
    return head + bytes(size - len(head))


@pytest.mark.parametrize("stream", [False, True], ids=["content-length", "chunked"])
async def test_a_photo_of_exactly_the_limit_is_accepted(
    client: TestClient, auth: dict[str, str], samples: dict[str, bytes], stream: bool
) -> None:
    data = single(padded(samples["jpeg"], 5 * MiB))
    response = await upload(client, PHOTO, chunked(data) if stream else data, auth)
    assert response.status == 201
    assert (await response.json())["size"] == 5 * MiB


@pytest.mark.parametrize("stream", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(("url", "limit"), [(PHOTO, 5 * MiB), (DOCUMENT, 20 * MiB)])
async def test_one_byte_over_the_limit_is_413_and_nothing_stored(
    client: TestClient,
    settings: UploadSettings,
    auth: dict[str, str],
    samples: dict[str, bytes],
    url: str,
    limit: int,
    stream: bool,
) -> None:
    head = samples["pdf"] if url == DOCUMENT else samples["png"]
    data = single(padded(head, limit + 1))
    response = await upload(client, url, chunked(data) if stream else data, auth)
    document = await problem(response, 413)
    assert str(limit) in document["detail"]
    await nothing_stored(client, settings, auth)


async def test_a_six_mib_photo_is_refused_413(
    client: TestClient, settings: UploadSettings, auth: dict[str, str], samples: dict[str, bytes]
) -> None:
    response = await upload(client, PHOTO, single(padded(samples["jpeg"], 6 * MiB)), auth)
    await problem(response, 413)
    await nothing_stored(client, settings, auth)


async def test_bytes_beyond_the_file_count_against_the_request_limit(
    client: TestClient, settings: UploadSettings, auth: dict[str, str], samples: dict[str, bytes]
) -> None:
    preamble = b"x" * 1023 + b"\r\n"
    data = preamble * (6 * 1024) + single(samples["png"])
    await problem(await upload(client, PHOTO, chunked(data), auth), 413)
    await nothing_stored(client, settings, auth)


async def test_file_names_are_stored_as_data_never_as_paths(
    client: TestClient, settings: UploadSettings, auth: dict[str, str], samples: dict[str, bytes]
) -> None:
    name = "../../etc/pass\x07wd\x1b[31m Mu\u0308ller.png\r\n"
    response = await upload(client, PHOTO, single(samples["png"], filename=name), auth)
    assert response.status == 201
    created = await response.json()
    assert created["original_filename"] == "../../etc/passwd[31m Müller.png"
    [stored] = stored_objects(settings)
    assert stored.is_relative_to(settings.storage_local_dir)
    assert stored.name == f"{created['id']}.png"


async def test_a_second_file_part_is_refused_and_nothing_stored(
    client: TestClient, settings: UploadSettings, auth: dict[str, str], samples: dict[str, bytes]
) -> None:
    data = body([part(samples["png"]), part(samples["png"])])
    document = await problem(await upload(client, PHOTO, data, auth), 400)
    assert "exactly one part" in document["detail"]
    await nothing_stored(client, settings, auth)


@pytest.mark.parametrize(
    ("parts", "detail"),
    [
        ([], "missing"),
        ([part(b"\x89PNG", name="photo")], "exactly one part"),
        ([part(b"hello", name="note", filename=None), part(b"\x89PNG")], "exactly one part"),
        ([part(b"")], "empty"),
    ],
    ids=["no-part", "wrong-name", "field-before-file", "empty-file"],
)
async def test_missing_misnamed_or_empty_parts_are_400(
    client: TestClient,
    settings: UploadSettings,
    auth: dict[str, str],
    parts: list[bytes],
    detail: str,
) -> None:
    document = await problem(await upload(client, PHOTO, body(parts), auth), 400)
    assert detail in document["detail"]
    await nothing_stored(client, settings, auth)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"no boundary anywhere",
        b'--nocturnal-test-boundary-7f3a\r\nContent-Disposition: form-data; name="file"\r\n\r\n\x89PNG',
    ],
    ids=["empty-body", "garbage", "truncated"],
)
async def test_malformed_or_truncated_multipart_is_400(
    client: TestClient, settings: UploadSettings, auth: dict[str, str], data: bytes
) -> None:
    await problem(await upload(client, PHOTO, data, auth), 400)
    await nothing_stored(client, settings, auth)


@pytest.mark.parametrize(
    "content_type", ["application/json", "image/png", "multipart/mixed; boundary=x", "text/plain"]
)
async def test_bodies_that_are_not_multipart_form_data_are_415(
    client: TestClient,
    settings: UploadSettings,
    auth: dict[str, str],
    samples: dict[str, bytes],
    content_type: str,
) -> None:
    response = await client.post(
        PHOTO, data=samples["png"], headers={**auth, "Content-Type": content_type}
    )
    await problem(response, 415)
    await nothing_stored(client, settings, auth)


async def test_a_multipart_type_without_boundary_is_400(
    client: TestClient, settings: UploadSettings, auth: dict[str, str], samples: dict[str, bytes]
) -> None:
    response = await client.post(
        PHOTO, data=single(samples["png"]), headers={**auth, "Content-Type": "multipart/form-data"}
    )
    await problem(response, 400)
    await nothing_stored(client, settings, auth)


@pytest.mark.parametrize("query", ["", "?kind=", "?kind=avatar", "?kind=DOCUMENT"])
async def test_a_missing_or_unknown_kind_is_400(
    client: TestClient, auth: dict[str, str], samples: dict[str, bytes], query: str
) -> None:
    document = await problem(
        await upload(client, f"/api/uploads{query}", single(samples["png"]), auth), 400
    )
    assert document["errors"][0]["field"] == "kind"


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"])
async def test_uploads_need_a_valid_access_token(
    client: TestClient, samples: dict[str, bytes], authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await upload(client, PHOTO, single(samples["png"]), headers)
    await problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_the_upload_policy_allows_ten_an_hour_then_429_with_retry_after(
    client: TestClient, auth: dict[str, str], samples: dict[str, bytes]
) -> None:
    for _ in range(10):
        assert (await upload(client, PHOTO, single(samples["png"]), auth)).status == 201
    response = await upload(client, PHOTO, single(samples["png"]), auth)
    await problem(response, 429)
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["RateLimit"].startswith('"upload";r=0')


async def test_an_upload_the_client_abandons_leaves_nothing_behind(
    client: TestClient, settings: UploadSettings, auth: dict[str, str], samples: dict[str, bytes]
) -> None:
    data = single(padded(samples["pdf"], 3 * MiB))
    head = (
        f"POST {DOCUMENT} HTTP/1.1\r\nHost: test\r\nAuthorization: {auth['Authorization']}\r\n"
        f"Content-Type: {CONTENT_TYPE}\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode()
    assert client.port is not None
    _, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(head + data[: 2 * MiB])
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.5)
    assert stored_objects(settings) == []
    assert not list((settings.storage_local_dir / INCOMING_DIR).glob("*"))


async def test_when_recording_fails_the_stored_object_is_removed(
    client: TestClient,
    settings: UploadSettings,
    auth: dict[str, str],
    samples: dict[str, bytes],
    mongo_url: str,
) -> None:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    # A validator no document passes makes the metadata transaction fail after the object is stored.
    await mongo[settings.mongo_database].command(
        "collMod", "files", validator={"$jsonSchema": {"required": ["never-present"]}}
    )
    await mongo.close()
    response = await upload(client, PHOTO, single(samples["png"]), auth)
    await problem(response, 500)
    assert stored_objects(settings) == []


async def test_a_stalled_upload_is_ended_with_408_and_nothing_stored(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient]],
    make_settings: SettingsFactory,
    auth: dict[str, str],
    samples: dict[str, bytes],
    file_events: FileEvents,
) -> None:
    settings = make_settings(upload_idle_timeout_s=0.5)
    client = await aiohttp_client(create_app(settings))
    data = single(padded(samples["pdf"], MiB))
    head = (
        f"POST {DOCUMENT} HTTP/1.1\r\nHost: test\r\nAuthorization: {auth['Authorization']}\r\n"
        f"Content-Type: {CONTENT_TYPE}\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode()
    assert client.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(head + data[: len(data) // 2])
    await writer.drain()
    async with asyncio.timeout(5):
        status_line = await reader.readline()
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 408")
    assert stored_objects(settings) == []


def bytes_in_flight() -> float:
    return REGISTRY.get_sample_value("upload_bytes_in_flight") or 0.0


async def test_bytes_being_received_count_as_in_flight_until_the_upload_is_over(
    client: TestClient, auth: dict[str, str], samples: dict[str, bytes]
) -> None:
    whole = single(samples["pdf"] + bytes(300_000), filename="cv.pdf")
    head, rest = whole[:200_000], whole[200_000:]
    more = asyncio.Event()
    before = bytes_in_flight()

    async def paused() -> AsyncIterator[bytes]:
        yield head
        await more.wait()
        yield rest

    sending = asyncio.create_task(upload(client, DOCUMENT, paused(), auth))

    async def head_in_flight() -> bool:
        return bytes_in_flight() - before >= 150_000

    await eventually(head_in_flight, "the first bytes counted as in flight")
    more.set()
    response = await sending
    assert response.status == 201, await response.text()
    assert bytes_in_flight() == before
