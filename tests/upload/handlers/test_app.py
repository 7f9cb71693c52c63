"""The assembled app: health, start-up twice on one database, and the S3 backend end to end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aioboto3
import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from nocturnal.upload.app import create_app

from ..support import FileEvents, SettingsFactory
from .actions import DOCUMENT, problem, upload, upload_png
from .multipart_bodies import chunked, single

AppClientFactory = Callable[[web.Application], Awaitable[TestClient]]
MiB = 1024 * 1024


async def test_readiness_covers_mongodb_storage_and_the_broker(client: TestClient) -> None:
    response = await client.get("/health/ready")
    assert response.status == 200
    assert (await response.json())["checks"] == {
        "mongodb": "ok",
        "storage": "ok",
        "ratelimit": "ok",
        "rabbitmq": "ok",
        "auth": "ok",  # auth's peer breaker, reported (issue 10)
    }
    assert (await client.get("/health/live")).status == 200
    spec = await (await client.get("/openapi.json")).json()
    assert {"/api/uploads", "/api/uploads/{file_id}", "/v1/files/{file_id}/signed-url"} <= set(
        spec["paths"]
    )


async def test_a_second_instance_starts_on_the_same_database(
    aiohttp_client: AppClientFactory, make_settings: SettingsFactory, file_events: FileEvents
) -> None:
    settings = make_settings()
    first = await aiohttp_client(create_app(settings))
    second = await aiohttp_client(create_app(settings))
    for instance in (first, second):
        assert (await instance.get("/health/ready")).status == 200


@pytest.fixture
async def s3_client(
    aiohttp_client: AppClientFactory,
    make_settings: SettingsFactory,
    s3_endpoint_url: str,
    aws_credentials: None,
    file_events: FileEvents,
) -> tuple[TestClient, str]:
    bucket = f"app-{make_settings().mongo_database[-12:]}"
    settings = make_settings(
        storage_backend="s3",
        s3_endpoint_url=s3_endpoint_url,
        s3_bucket=bucket,
        s3_create_bucket=True,
    )
    return await aiohttp_client(create_app(settings)), bucket


async def test_the_s3_backend_stores_signs_and_deletes(
    s3_client: tuple[TestClient, str],
    auth: dict[str, str],
    samples: dict[str, bytes],
    s3_endpoint_url: str,
) -> None:
    client, bucket = s3_client
    created = await upload_png(client, auth, samples)
    signed = await (await client.get(f"/api/uploads/{created['id']}/url", headers=auth)).json()
    assert signed["url"].startswith(f"{s3_endpoint_url}/{bucket}/profile-photos/")
    async with aiohttp.ClientSession() as session, session.get(signed["url"]) as response:
        assert response.status == 200
        assert await response.read() == samples["png"]
        assert response.headers["Content-Disposition"].startswith('attachment; filename="me.png"')
    assert (await client.delete(f"/api/uploads/{created['id']}", headers=auth)).status == 204
    async with aioboto3.Session().client(
        "s3", endpoint_url=s3_endpoint_url, region_name="us-east-1"
    ) as s3:
        listing = await s3.list_objects_v2(Bucket=bucket)
        assert listing.get("KeyCount", 0) == 0


async def test_an_oversized_s3_upload_leaves_no_object_and_no_multipart_upload(
    s3_client: tuple[TestClient, str],
    auth: dict[str, str],
    samples: dict[str, bytes],
    s3_endpoint_url: str,
) -> None:
    client, bucket = s3_client
    data = single(samples["pdf"] + bytes(20 * MiB + 1 - len(samples["pdf"])))
    await problem(await upload(client, DOCUMENT, chunked(data), auth), 413)
    async with aioboto3.Session().client(
        "s3", endpoint_url=s3_endpoint_url, region_name="us-east-1"
    ) as s3:
        assert (await s3.list_objects_v2(Bucket=bucket)).get("KeyCount", 0) == 0
        assert (await s3.list_multipart_uploads(Bucket=bucket)).get("Uploads", []) == []
