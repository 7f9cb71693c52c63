"""The storage reconciler on both backends (a real moto S3 server, a directory) and SecantusDB:
stale incomplete uploads aborted, objects without metadata deleted, metadata without object
reported, nothing young touched; periodic in the app, on demand from the operator CLI."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aioboto3
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from polling import eventually
from prometheus_client import REGISTRY
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.ops.cli import main
from nocturnal.shared.ids import new_id
from nocturnal.upload.adapters.file_repository import MongoFileRepository
from nocturnal.upload.adapters.local_storage import INCOMING_DIR, LocalStorage
from nocturnal.upload.adapters.s3_storage import S3Storage, open_s3_storage
from nocturnal.upload.app import create_app
from nocturnal.upload.domain.files import FileKind, MediaType, StoredFile, object_key
from nocturnal.upload.domain.signing import UrlSigner
from nocturnal.upload.service_layer import Reconciler

from .support import SettingsFactory

pytestmark = pytest.mark.integration

LATER = timedelta(days=2)
"""How far ahead the reconciler's clock runs to see every object and upload as stale."""


@dataclass
class Store:
    """A backend under test, and how to reach behind it."""

    storage: S3Storage | LocalStorage
    objects: Callable[[], Awaitable[set[str]]]
    incomplete: Callable[[], Awaitable[set[str]]]
    leave_incomplete: Callable[[str], Awaitable[None]]
    """Begin an upload of the key and never finish it (a process killed mid-upload)."""
    put_foreign: Callable[[str], Awaitable[None]]
    """Store an object under any key, as something other than Nocturnal would."""


async def _s3_store(endpoint_url: str) -> AsyncIterator[Store]:
    bucket = f"reconcile-{uuid.uuid4().hex[:12]}"
    async with (
        open_s3_storage(
            bucket=bucket, region="us-east-1", endpoint_url=endpoint_url, create_bucket=True
        ) as storage,
        aioboto3.Session().client("s3", endpoint_url=endpoint_url, region_name="us-east-1") as s3,
    ):

        async def objects() -> set[str]:
            listing = await s3.list_objects_v2(Bucket=bucket)
            return {item["Key"] for item in listing.get("Contents", [])}

        async def incomplete() -> set[str]:
            listing = await s3.list_multipart_uploads(Bucket=bucket)
            return {upload["Key"] for upload in listing.get("Uploads", [])}

        async def leave_incomplete(key: str) -> None:
            started = await s3.create_multipart_upload(Bucket=bucket, Key=key)
            await s3.upload_part(
                Bucket=bucket, Key=key, UploadId=started["UploadId"], PartNumber=1, Body=b"x"
            )

        async def put_foreign(key: str) -> None:
            await s3.put_object(Bucket=bucket, Key=key, Body=b"x")

        yield Store(storage, objects, incomplete, leave_incomplete, put_foreign)


async def _local_store(root: Path) -> AsyncIterator[Store]:
    storage = LocalStorage(root, UrlSigner(b"k" * 32), "http://files.test")
    incoming = root / INCOMING_DIR

    async def objects() -> set[str]:
        files = (p for p in root.rglob("*") if p.is_file() and INCOMING_DIR not in p.parts)  # noqa: ASYNC240
        return {p.relative_to(root).as_posix() for p in files}

    async def incomplete() -> set[str]:
        return {p.name.rsplit(".", 2)[0].replace("~", "/") for p in incoming.glob("*.part")}

    async def leave_incomplete(key: str) -> None:
        # What LocalStorage.put leaves when its process dies before the rename.
        incoming.mkdir(parents=True, exist_ok=True)
        (incoming / f"{key.replace('/', '~')}.{uuid.uuid4().hex}.part").write_bytes(b"x")

    async def put_foreign(key: str) -> None:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(b"x")

    yield Store(storage, objects, incomplete, leave_incomplete, put_foreign)


@pytest.fixture(params=["s3", "local"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "local":
        async for local in _local_store(tmp_path / "objects"):
            yield local
        return
    request.getfixturevalue("aws_credentials")
    async for s3 in _s3_store(request.getfixturevalue("s3_endpoint_url")):
        yield s3


@pytest.fixture
async def files(db: AsyncDatabase[Any]) -> MongoFileRepository:
    repository = MongoFileRepository(db)
    await repository.ensure_indexes()
    return repository


def a_key(kind: FileKind = FileKind.DOCUMENT) -> str:
    media_type = MediaType.PDF if kind is FileKind.DOCUMENT else MediaType.PNG
    return object_key(kind, media_type, new_id(), datetime.now(UTC))


async def put(store: Store, key: str) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"%PDF-1.4 bytes"

    await store.storage.put(key, body(), content_type="application/pdf")


async def record(files: MongoFileRepository, key: str, created_at: datetime | None = None) -> None:
    file_id = key.rsplit("/", 1)[1].split(".")[0]
    await files.add(
        StoredFile(
            id=file_id,
            owner_id=new_id(),
            kind=FileKind.DOCUMENT if key.startswith("documents/") else FileKind.PROFILE_PHOTO,
            key=key,
            content_type=MediaType.PDF,
            size=14,
            sha256="ab" * 32,
            original_filename="cv.pdf",
            created_at=created_at or datetime.now(UTC),
        )
    )


def reconciler(store: Store, files: MongoFileRepository, ahead: timedelta) -> Reconciler:
    return Reconciler(
        store.storage,
        files,
        upload_age=timedelta(days=1),
        grace=timedelta(hours=1),
        clock=lambda: datetime.now(UTC) + ahead,
    )


async def test_stale_leftovers_are_cleaned_and_what_is_recorded_stays(
    store: Store, files: MongoFileRepository
) -> None:
    kept = [a_key(), a_key(FileKind.PROFILE_PHOTO)]
    orphans = [a_key(), a_key(FileKind.PROFILE_PHOTO)]
    missing, abandoned = a_key(), a_key(FileKind.PROFILE_PHOTO)
    for key in kept + orphans:
        await put(store, key)
    for key in [*kept, missing]:
        await record(files, key)
    await store.leave_incomplete(abandoned)

    report = await reconciler(store, files, LATER).run()

    assert sorted(report.deleted_objects) == sorted(orphans)
    assert report.aborted_uploads == [abandoned]
    assert report.missing_objects == [missing]
    assert await store.objects() == set(kept)
    assert await store.incomplete() == set()
    assert await files.has_key(missing), "metadata without object is only reported"


async def test_objects_and_metadata_younger_than_the_grace_period_are_left_alone(
    store: Store, files: MongoFileRepository
) -> None:
    orphan, missing = a_key(), a_key()
    await put(store, orphan)
    await record(files, missing)

    report = await reconciler(store, files, timedelta(0)).run()

    assert (report.deleted_objects, report.missing_objects) == ([], [])
    assert await store.objects() == {orphan}


async def test_an_upload_younger_than_the_upload_age_is_not_aborted(
    tmp_path: Path, files: MongoFileRepository
) -> None:
    # On the local backend only: moto reports every multipart upload as initiated in 2010.
    async for store in _local_store(tmp_path / "objects"):
        in_progress = a_key()
        await store.leave_incomplete(in_progress)

        report = await reconciler(store, files, timedelta(hours=23)).run()

        assert report.aborted_uploads == []
        assert await store.incomplete() == {in_progress}


async def test_a_dry_run_reports_and_changes_nothing(
    store: Store, files: MongoFileRepository
) -> None:
    orphan, abandoned = a_key(), a_key()
    await put(store, orphan)
    await store.leave_incomplete(abandoned)

    report = await reconciler(store, files, LATER).run(dry_run=True)

    assert (report.deleted_objects, report.aborted_uploads) == ([orphan], [abandoned])
    assert await store.objects() == {orphan}
    assert await store.incomplete() == {abandoned}


async def test_objects_outside_nocturnals_prefixes_are_left_alone(
    store: Store, files: MongoFileRepository
) -> None:
    foreign = "backups/2026-11-30/dump.tar"
    await store.put_foreign(foreign)
    await store.leave_incomplete("backups/2026-11-30/partial.tar")

    report = await reconciler(store, files, LATER).run()

    assert (report.deleted_objects, report.aborted_uploads) == ([], [])
    assert await store.objects() == {foreign}


def reconciled(action: str) -> float:
    return REGISTRY.get_sample_value("upload_reconciled_total", {"action": action}) or 0.0


async def test_the_upload_service_reconciles_periodically_and_counts_it(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient]],
    make_settings: SettingsFactory,
    s3_endpoint_url: str,
    aws_credentials: None,
    db: AsyncDatabase[Any],
) -> None:
    settings = make_settings(
        mongo_database=db.name,
        storage_backend="s3",
        s3_endpoint_url=s3_endpoint_url,
        s3_bucket=f"periodic-{uuid.uuid4().hex[:12]}",
        s3_create_bucket=True,
        reconcile_interval_s=0.05,
        reconcile_grace_s=0.5,
    )
    await aiohttp_client(create_app(settings))
    files = MongoFileRepository(db)
    bucket = settings.s3_bucket
    async with (
        open_s3_storage(bucket=bucket, region="us-east-1", endpoint_url=s3_endpoint_url) as s3,
        aioboto3.Session().client(
            "s3", endpoint_url=s3_endpoint_url, region_name="us-east-1"
        ) as client,
    ):

        async def objects() -> set[str]:
            listing = await client.list_objects_v2(Bucket=bucket)
            return {item["Key"] for item in listing.get("Contents", [])}

        async def body() -> AsyncIterator[bytes]:
            yield b"%PDF-1.4 bytes"

        recorded, orphan = a_key(), a_key()
        await s3.put(recorded, body(), content_type="application/pdf")
        await record(files, recorded)
        before = reconciled("deleted_object")
        await s3.put(orphan, body(), content_type="application/pdf")

        async def orphan_gone() -> bool:
            return orphan not in await objects()

        await eventually(orphan_gone, "the orphan object deleted by the periodic reconciler")
        assert reconciled("deleted_object") >= before + 1
        assert recorded in await objects()


def test_the_operator_cli_shows_then_asks_then_reconciles(
    tmp_path: Path,
    mongo_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "objects"
    for name, value in {
        "NOCTURNAL_ENV": "test",
        "MONGO_URL": mongo_url,
        "MONGO_DATABASE": f"test_upload_{uuid.uuid4().hex[:12]}",
        "STORAGE_BACKEND": "local",
        "STORAGE_LOCAL_DIR": str(root),
    }.items():
        monkeypatch.setenv(name, value)
    orphan = a_key()
    (root / orphan).parent.mkdir(parents=True)
    (root / orphan).write_bytes(b"%PDF-1.4")
    reconcile = ["uploads", "reconcile", "--grace", "0.001s"]

    assert main([*reconcile, "--dry-run"]) == 0
    assert f"delete object without metadata\t{orphan}" in capsys.readouterr().out
    assert (root / orphan).exists()

    assert main(reconcile) == 1, "without a terminal the answer is no"
    assert "nothing changed" in capsys.readouterr().out
    assert (root / orphan).exists()

    assert main([*reconcile, "--yes"]) == 0
    assert "did: abort 0 incomplete uploads, delete 1 objects" in capsys.readouterr().out
    assert not (root / orphan).exists()


@pytest.mark.parametrize("text", ["0", "-5m", "6 hours", "h", ""])
def test_the_cli_refuses_a_duration_it_cannot_read(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["uploads", "reconcile", f"--older-than={text}"])
    assert exit.value.code == 2
    assert "not a positive duration" in capsys.readouterr().err


def test_the_cli_reports_an_unreachable_database_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NOCTURNAL_ENV", "test")
    monkeypatch.setenv("MONGO_URL", "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300")
    monkeypatch.setenv("STORAGE_BACKEND", "local")
    monkeypatch.setenv("STORAGE_LOCAL_DIR", str(tmp_path))

    assert main(["uploads", "reconcile", "--dry-run"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("reconciliation stopped: ServerSelectionTimeoutError")
    assert error.count("\n") == 1
