"""What only the S3 backend does: presigned URLs, a single PutObject for small bodies, parts."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aioboto3
import pytest

from nocturnal.upload.adapters.s3_storage import MIN_PART_BYTES, S3Storage, open_s3_storage


@pytest.fixture
def bucket() -> str:
    return f"s3-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def storage(
    s3_endpoint_url: str, aws_credentials: None, bucket: str
) -> AsyncIterator[S3Storage]:
    async with open_s3_storage(
        bucket=bucket,
        region="us-east-1",
        endpoint_url=s3_endpoint_url,
        public_endpoint_url="https://files.nocturnal.test",
        create_bucket=True,
        part_bytes=MIN_PART_BYTES,
    ) as storage:
        yield storage


async def test_presigned_urls_use_the_public_endpoint_and_the_requested_lifetime(
    storage: S3Storage,
) -> None:
    url = await storage.signed_url(
        "documents/2026-11-30/0123456789abcdef0123456789abcdef.pdf",
        expires=int(time.time()) + 600,
        filename="cv.pdf",
        content_type="application/pdf",
    )
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}" == "https://files.nocturnal.test"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert 599 <= int(query["X-Amz-Expires"][0]) <= 600
    assert query["response-content-type"] == ["application/pdf"]
    assert query["response-content-disposition"][0].startswith('attachment; filename="cv.pdf"')


async def test_small_bodies_are_one_put_and_large_ones_a_completed_multipart_upload(
    storage: S3Storage, s3_endpoint_url: str, bucket: str
) -> None:
    async def body(size: int) -> AsyncIterator[bytes]:
        yield b"x" * size

    await storage.put(
        "documents/2026-11-30/small.pdf", body(MIN_PART_BYTES - 1), content_type="a/b"
    )
    await storage.put(
        "documents/2026-11-30/large.pdf", body(MIN_PART_BYTES * 2), content_type="a/b"
    )
    session = aioboto3.Session()
    async with session.client("s3", endpoint_url=s3_endpoint_url, region_name="us-east-1") as s3:
        small = await s3.head_object(Bucket=bucket, Key="documents/2026-11-30/small.pdf")
        large = await s3.head_object(Bucket=bucket, Key="documents/2026-11-30/large.pdf")
    # A multipart object's ETag ends with "-<number of parts>".
    assert "-" not in small["ETag"]
    assert large["ETag"].strip('"').endswith("-2")
    assert large["ContentLength"] == MIN_PART_BYTES * 2
    assert large["ContentType"] == "a/b"
