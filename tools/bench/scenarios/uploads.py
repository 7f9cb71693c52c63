"""P5: uploads. Peak RSS of the upload service with N concurrent uploads and with one big one,
and throughput against a direct aioboto3 multipart upload of the same bytes to the same moto.

The client streams each request body in 256 KiB slices of one shared buffer with a known
Content-Length (as a browser does), so the bench's own memory stays flat. RSS is sampled every
50 ms; the growth counted is the peak during the batch minus the RSS just before it, in an upload process
started for that batch alone after one 9 MiB warm-up upload (every code path loaded).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aioboto3
import aiohttp

from nocturnal.upload.adapters.s3_storage import PART_BYTES
from tools.bench.context import Run
from tools.bench.processes import rss_trace
from tools.bench.results import Figure
from tools.bench.settings import MiB
from tools.bench.targets import P5_THROUGHPUT, p5_rss_per_upload
from tools.bench.testbed import BUCKET
from tools.devstack import Child, free_ports, http_ok, stop_children, wait_until

CHUNK = 256 * 1024
WARMUP_BYTES = 9 * MiB  # two parts: the multipart path is loaded before RSS is taken
PDF_HEAD = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
MOTO_KEY = "testing"


@dataclass
class Batch:
    """One batch of uploads: how many, how big, how long, and what the service's RSS did."""

    path: str  # "service" or "direct"
    count: int
    size: int
    wall_s: float
    statuses: dict[str, int]
    rss_before: int = 0
    rss_peak: int = 0

    @property
    def stored(self) -> int:
        """Uploads that were answered 200/201 (a refused one moved no bytes to count)."""
        return sum(n for status, n in self.statuses.items() if status in {"200", "201"})

    @property
    def mib_per_s(self) -> float:
        return self.stored * self.size / MiB / self.wall_s

    @property
    def growth_per_upload_mib(self) -> float:
        return (self.rss_peak - self.rss_before) / MiB / self.count

    def to_json(self) -> dict[str, Any]:
        return self.__dict__ | {
            "mib_per_s": round(self.mib_per_s, 1),
            "growth_per_upload_mib": round(self.growth_per_upload_mib, 2),
        }


def _payload(size: int) -> bytes:
    return PDF_HEAD + os.urandom(size - len(PDF_HEAD))


def _multipart(payload: bytes) -> tuple[str, bytes, bytes]:
    boundary = f"bench{secrets.token_hex(12)}"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="bench.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    return boundary, head, f"\r\n--{boundary}--\r\n".encode()


async def _body(head: bytes, payload: bytes, tail: bytes) -> AsyncIterator[bytes]:
    yield head
    view = memoryview(payload)
    for offset in range(0, len(payload), CHUNK):
        yield bytes(view[offset : offset + CHUNK])
    yield tail


async def _upload_service(
    session: aiohttp.ClientSession, url: str, token: str, payload: bytes
) -> int:
    boundary, head, tail = _multipart(payload)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + len(payload) + len(tail)),
    }
    async with session.post(url, data=_body(head, payload, tail), headers=headers) as response:
        await response.read()
        return response.status


async def _upload_direct(s3: Any, payload: bytes) -> int:
    """A multipart upload the way the service makes one: sequential parts of PART_BYTES."""
    key = f"bench-direct/{secrets.token_hex(8)}.pdf"
    started = await s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    upload_id = started["UploadId"]
    parts = []
    for number, offset in enumerate(range(0, len(payload), PART_BYTES), start=1):
        answer = await s3.upload_part(
            Bucket=BUCKET,
            Key=key,
            PartNumber=number,
            UploadId=upload_id,
            Body=payload[offset : offset + PART_BYTES],
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    await s3.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    return 200


async def _empty_bucket(s3: Any) -> None:
    while True:
        listing = await s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1000)
        keys = [{"Key": item["Key"]} for item in listing.get("Contents", [])]
        if not keys:
            return
        await s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})


class Uploader:
    """Sends batches through a fresh upload process and directly to S3, measuring each."""

    def __init__(self, run: Run, s3: Any, session: aiohttp.ClientSession, max_bytes: int) -> None:
        self.run, self.s3, self.session, self.max_bytes = run, s3, session, max_bytes
        self.warmup = _payload(WARMUP_BYTES)

    async def service(self, payload: bytes, count: int, *, profile: bool = False) -> Batch:
        """`count` concurrent uploads through an upload process started for this batch alone:
        a process keeps the memory it once used, so an earlier batch would hide this one's.
        `profile`: under py-spy (upload and moto), a round of its own."""
        child, url = await asyncio.to_thread(_start_upload, self.run, self.max_bytes)
        try:
            upload_url = f"{url}/api/uploads?kind=document"
            token = self.run.admin.token()
            await _upload_service(self.session, upload_url, token, self.warmup)
            jobs = [_upload_service(self.session, upload_url, token, payload) for _ in range(count)]
            targets = {"upload": child.proc.pid, "s3": self.run.pids()["s3"]}
            with self.run.profiling("P5", targets) if profile else contextlib.nullcontext():
                return await self._measure("service", jobs, payload, child.proc.pid)
        finally:
            await asyncio.to_thread(stop_children, [child])

    async def direct(self, payload: bytes, count: int) -> Batch:
        """The same bytes uploaded by aioboto3 straight to moto."""
        return await self._measure(
            "direct", [_upload_direct(self.s3, payload) for _ in range(count)], payload, None
        )

    async def _measure(self, path: str, jobs: list[Any], payload: bytes, pid: int | None) -> Batch:
        await _empty_bucket(self.s3)
        with rss_trace(pid or os.getpid()) as trace:
            started = time.monotonic()
            statuses = await asyncio.gather(*jobs, return_exceptions=True)
            wall = time.monotonic() - started
        counted: dict[str, int] = {}
        for status in statuses:
            name = str(status) if isinstance(status, int) else type(status).__name__
            counted[name] = counted.get(name, 0) + 1
        count = len(jobs)
        rss = (trace.first, trace.peak) if pid else (0, 0)
        batch = Batch(path, count, len(payload), wall, counted, *rss)
        growth = f", RSS +{batch.growth_per_upload_mib:.1f} MiB/upload" if pid else ""
        self.run.say(
            f"P5 {path:7s} {count} x {len(payload) // MiB} MiB: {batch.mib_per_s:6.1f} MiB/s"
            f"{growth}; answers {counted}"
        )
        return batch


def _start_upload(run: Run, max_bytes: int) -> tuple[Child, str]:
    port = free_ports(1)[0]
    env = run.stack.service_env("upload", "upload-bench", port)
    env["UPLOAD_MAX_BYTES_DOCUMENT"] = str(max_bytes)
    env["UPLOAD_MAX_CONCURRENT"] = str(run.settings.upload_count)  # every upload of a batch at once
    argv = [sys.executable, "-m", "nocturnal.upload"]
    child = Child.spawn(
        "upload-bench", argv, run.settings.run_dir / "logs" / "upload-bench.log", env
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(f"{url}/health/ready"), "upload (bench)", 60, child)
    return child, url


async def _measure(run: Run) -> dict[str, list[Batch]]:
    s = run.settings
    many, big = _payload(s.upload_mib * MiB), _payload(s.big_upload_mib * MiB)
    max_bytes = (max(s.upload_mib, s.big_upload_mib) + 1) * MiB
    timeout = aiohttp.ClientTimeout(total=None, sock_read=300)
    session_s3 = aioboto3.Session(
        aws_access_key_id=MOTO_KEY, aws_secret_access_key=MOTO_KEY, region_name="us-east-1"
    )
    results: dict[str, list[Batch]] = {
        "service": [],
        "direct": [],
        "big-service": [],
        "big-direct": [],
    }
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session_s3.client("s3", endpoint_url=run.bed.moto.url) as s3,
    ):
        uploader = Uploader(run, s3, session, max_bytes)
        for _ in range(s.upload_rounds):
            results["service"].append(await uploader.service(many, s.upload_count))
            results["direct"].append(await uploader.direct(many, s.upload_count))
            results["big-service"].append(await uploader.service(big, 1))
            results["big-direct"].append(await uploader.direct(big, 1))
        if run.profile_dir is not None:
            await uploader.service(many, s.upload_count, profile=True)
        await _empty_bucket(s3)
    return results


def run_p5(run: Run) -> None:
    """Measure P5 on upload processes of its own and add its figures."""
    s = run.settings
    results = asyncio.run(_measure(run))
    part_mib = PART_BYTES / MiB
    limit = "upload service with UPLOAD_MAX_BYTES_DOCUMENT raised to fit the uploads"
    for key, what in (
        ("service", f"{s.upload_count} concurrent x {s.upload_mib} MiB"),
        ("big-service", f"1 x {s.big_upload_mib} MiB"),
    ):
        batches, direct = results[key], results[key.replace("service", "direct")]
        run.add(
            Figure(
                key=f"P5 RSS {key.replace('service', '').strip('-') or 'many'}",
                what=f"upload RSS growth per upload, {what}",
                unit="MiB",
                values=[batch.growth_per_upload_mib for batch in batches],
                target=p5_rss_per_upload(part_mib),
                note=limit,
            )
        )
        run.add(
            Figure(
                key=f"P5 speed {key.replace('service', '').strip('-') or 'many'}",
                what=f"upload throughput, {what}",
                unit="MiB/s",
                values=[batch.mib_per_s for batch in batches],
                baseline="direct aioboto3 to moto",
                baseline_values=[batch.mib_per_s for batch in direct],
                target=P5_THROUGHPUT,
            )
        )
    run.details["P5"] = {name: [b.to_json() for b in batches] for name, batches in results.items()}
