"""upload SIGKILLed mid-upload (a multipart upload to S3 begun, the client still sending) under
steady load: the killed request fails at the client, reads of files answer 503 while no
instance is there, and once upload is back no incomplete multipart upload and no object
without its metadata is left (the instance that starts again reconciles the storage and
aborts the stale upload)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import boto3
import pytest
from polling import eventually
from pymongo import AsyncMongoClient

from chaos.driver import SteadyLoad, Step, register
from chaos.report import record
from chaos.servers import instances_of, kill, respawn, wait_exited
from tools.devstack import MOTO_CREDENTIALS, Stack

# Each waits for a recovery bounded by the servers (a 60 s transaction lifetime at most).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MiB = 1024 * 1024
RECONCILE_SOON = {
    "RECONCILE_INTERVAL_S": "2",
    "RECONCILE_UPLOAD_AGE_S": "1",
    "RECONCILE_GRACE_S": "1",
}
BOUNDARY = "chaos-boundary"


def s3_client(stack: Stack) -> Any:
    endpoint = next(server.url for server in stack.servers if server.role == "s3")
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=MOTO_CREDENTIALS,
        aws_secret_access_key=MOTO_CREDENTIALS,
    )


def incomplete_uploads(stack: Stack) -> list[str]:
    listed = s3_client(stack).list_multipart_uploads(Bucket=stack.settings.s3_bucket)
    return [upload["Key"] for upload in listed.get("Uploads", [])]


def object_keys(stack: Stack) -> set[str]:
    listed = s3_client(stack).list_objects_v2(Bucket=stack.settings.s3_bucket)
    return {item["Key"] for item in listed.get("Contents", [])}


async def recorded_keys(mongo_url: str) -> set[str]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url)
    try:
        return {
            doc["key"] async for doc in client["nocturnal_upload"]["files"].find({}, {"key": 1})
        }
    finally:
        await client.close()


async def stalling_body(sent: asyncio.Event) -> AsyncIterator[bytes]:
    """A multipart/form-data body with a 12 MiB PDF whose first 10 MiB come at once (S3 gets
    its first part) and whose rest never does."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="cv.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n%PDF-1.7\n"
    ).encode()
    for _ in range(10):
        yield b"\0" * MiB
    sent.set()
    await asyncio.sleep(3600)


async def upload_until_killed(base_url: str, token: str, sent: asyncio.Event) -> str:
    """POST the stalling upload; return how it ended for the client."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
    }
    timeout = aiohttp.ClientTimeout(total=120)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(
                f"{base_url}/api/uploads?kind=document", data=stalling_body(sent), headers=headers
            ) as response,
        ):
            return f"status {response.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"error {exc!r}"


async def test_upload_killed_mid_upload(chaos_stack: Stack) -> None:
    token, _ = await register(chaos_stack.base_url, role="doctor")
    bearer = {"Authorization": f"Bearer {token}"}
    load = SteadyLoad(
        chaos_stack.base_url,
        [Step("health", "GET", "/api/health"), Step("uploads", "GET", "/api/uploads", bearer)],
    )
    [upload] = instances_of(chaos_stack, "upload")
    sent = asyncio.Event()
    async with load.running():
        await load.settle(2.0)
        uploading = asyncio.create_task(upload_until_killed(chaos_stack.base_url, token, sent))
        try:
            await asyncio.wait_for(sent.wait(), 60)
            await load.wait_for(lambda: bool(incomplete_uploads(chaos_stack)), "a multipart upload")
            load.phase = "during"
            kill(upload)
            await wait_exited(upload)
            ended = await asyncio.wait_for(uploading, 60)
        finally:
            uploading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await uploading
        await load.settle(2.0)
        # It reconciles storage soon (moto dates every upload in 2010: stale at once). The
        # killed instance did not: it would have aborted the upload it was receiving.
        await respawn(chaos_stack, upload, RECONCILE_SOON)
        first = len(load.outcomes)
        await load.wait_for(
            lambda: any(o.step == "uploads" and o.status == 200 for o in load.outcomes[first:]),
            "a file list answered again",
            within_s=30,
        )
        load.phase = "after"
        await load.settle(3.0)
    record("upload SIGKILL mid-upload", load)

    assert not ended.startswith("status 2"), ended
    load.assert_only(allowed={503})
    after = [o for o in load.in_phase("after") if o.status != 200]
    assert after == [], [o.describe() for o in after[:10]]

    async def swept() -> bool:
        return not await asyncio.to_thread(incomplete_uploads, chaos_stack)

    await eventually(swept, "the killed upload's multipart upload aborted", within=60)
    orphans = object_keys(chaos_stack) - await recorded_keys(chaos_stack.servers[0].url)
    assert orphans == set()
