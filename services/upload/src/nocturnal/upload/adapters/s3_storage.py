"""The `s3` storage backend: any S3-compatible store through aioboto3, uploads streamed in parts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from nocturnal.shared.logging import get_logger
from nocturnal.upload.domain.files import MiB, content_disposition
from nocturnal.upload.service_layer import IncompleteUpload, ObjectNotFound, StoredObject

PART_BYTES = 8 * MiB
"""Multipart part size: S3 needs >= 5 MiB for every part but the last; one part is buffered."""
MIN_PART_BYTES = 5 * MiB
READ_CHUNK_BYTES = 256 * 1024

log = get_logger("storage.s3")


class S3Storage:
    """Objects in one S3 bucket.

    A body that fits in one part is sent with a single PutObject; a larger one as a multipart
    upload holding at most one part in memory. Any failure or cancellation aborts the multipart
    upload, so no object and no incomplete upload is left (a bucket lifecycle rule aborting
    incomplete uploads after a day is the backstop for a process killed mid-upload).
    Downloads are presigned GETs (SigV4) made with `signing_client`, whose endpoint is the
    one clients can reach.
    """

    name = "s3"

    def __init__(
        self, client: Any, signing_client: Any, bucket: str, *, part_bytes: int = PART_BYTES
    ) -> None:
        if part_bytes < MIN_PART_BYTES:
            raise ValueError("S3 multipart parts must be at least 5 MiB")
        self._client = client
        self._signing_client = signing_client
        self._bucket = bucket
        self._part_bytes = part_bytes

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> None:
        """PutObject when the body fits in one part, else a multipart upload."""
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                buffer += chunk
                while len(buffer) >= self._part_bytes:
                    if upload_id is None:
                        upload_id = await self._start_multipart(key, content_type)
                    part = bytes(buffer[: self._part_bytes])
                    del buffer[: self._part_bytes]
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, part))
            if upload_id is None:
                await self._client.put_object(
                    Bucket=self._bucket, Key=key, Body=bytes(buffer), ContentType=content_type
                )
                return
            if buffer:
                parts.append(await self._upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
            await self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            if upload_id is not None:
                # Shielded: a cancelled upload must still be aborted, not left incomplete.
                await asyncio.shield(self._abort_multipart(key, upload_id))
            raise

    async def _start_multipart(self, key: str, content_type: str) -> str:
        response = await self._client.create_multipart_upload(
            Bucket=self._bucket, Key=key, ContentType=content_type
        )
        upload_id: str = response["UploadId"]
        return upload_id

    async def _upload_part(
        self, key: str, upload_id: str, number: int, body: bytes
    ) -> dict[str, Any]:
        response = await self._client.upload_part(
            Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"ETag": response["ETag"], "PartNumber": number}

    async def _abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            await self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=key, UploadId=upload_id
            )
        except (ClientError, BotoCoreError) as exc:
            log.warning("multipart upload not aborted", key=key, error=repr(exc))

    async def read(self, key: str) -> AsyncGenerator[bytes, None]:
        """GetObject, streamed in chunks of up to 256 KiB."""
        try:
            response = await self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise ObjectNotFound(key) from None
            raise
        body = response["Body"]
        async with body:
            async for chunk in body.iter_chunks(READ_CHUNK_BYTES):
                yield chunk

    async def delete(self, key: str) -> None:
        """DeleteObject (S3 answers success for a missing key too)."""
        await self._client.delete_object(Bucket=self._bucket, Key=key)

    async def objects(self, prefix: str) -> AsyncIterator[StoredObject]:
        """ListObjectsV2 under `prefix`, page by page (S3 lists keys in ascending UTF-8 order)."""
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=prefix
        )
        async for page in pages:
            for item in page.get("Contents", []):
                yield StoredObject(item["Key"], item["LastModified"])

    async def incomplete_uploads(self, prefix: str) -> AsyncIterator[IncompleteUpload]:
        """ListMultipartUploads under `prefix`, page by page."""
        pages = self._client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self._bucket, Prefix=prefix
        )
        async for page in pages:
            for item in page.get("Uploads", []):
                yield IncompleteUpload(item["Key"], item["UploadId"], item["Initiated"])

    async def abort(self, upload: IncompleteUpload) -> None:
        """AbortMultipartUpload; one already gone (another instance's run) is not an error."""
        try:
            await self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=upload.key, UploadId=upload.upload_id
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise

    async def signed_url(self, key: str, *, expires: int, filename: str, content_type: str) -> str:
        """A presigned GET overriding the response's Content-Type and Content-Disposition."""
        url: str = await self._signing_client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentType": content_type,
                "ResponseContentDisposition": content_disposition(filename),
            },
            ExpiresIn=max(expires - int(time.time()), 1),
        )
        return url

    async def ready(self) -> bool:
        """HeadBucket succeeds."""
        try:
            await self._client.head_bucket(Bucket=self._bucket)
        except (ClientError, BotoCoreError):
            return False
        return True

    async def create_bucket(self, region: str) -> None:
        """Create the bucket unless it exists (a development convenience)."""
        options: dict[str, Any] = {}
        if region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            await self._client.create_bucket(Bucket=self._bucket, **options)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise


@asynccontextmanager
async def open_s3_storage(
    *,
    bucket: str,
    region: str,
    endpoint_url: str | None,
    public_endpoint_url: str | None = None,
    create_bucket: bool = False,
    part_bytes: int = PART_BYTES,
) -> AsyncIterator[S3Storage]:
    """An `S3Storage` with its clients open (credentials from the standard AWS variables).

    A custom `endpoint_url` (MinIO, moto, ...) uses path-style addressing;
    `public_endpoint_url` is where clients reach the same store (defaults to `endpoint_url`).
    """
    session = aioboto3.Session()
    config = AioConfig(
        signature_version="s3v4",
        connect_timeout=3,
        read_timeout=30,
        retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": "path" if endpoint_url else "auto"},
    )
    async with AsyncExitStack() as stack:

        async def client(endpoint: str | None) -> Any:
            return await stack.enter_async_context(
                session.client("s3", region_name=region, endpoint_url=endpoint, config=config)
            )

        main = await client(endpoint_url)
        public = public_endpoint_url or endpoint_url
        signing = main if public == endpoint_url else await client(public)
        storage = S3Storage(main, signing, bucket, part_bytes=part_bytes)
        if create_bucket:
            await storage.create_bucket(region)
        yield storage
