"""The upload service's composition root: `create_app(settings)` wires the storage backend,
MongoDB and the event bus into the use cases; every resource is a cleanup context."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

from aiohttp import web
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from nocturnal.shared.auth.requests import token_verifier_context
from nocturnal.shared.auth.revocation import http_revocations
from nocturnal.shared.background import in_background
from nocturnal.shared.erasure import MongoErasureLedger
from nocturnal.shared.events import EventBus
from nocturnal.shared.health import READINESS
from nocturnal.shared.http.app import CleanupContext, create_service_app
from nocturnal.shared.http.client import HTTP_SESSION, http_session_context, peer_breaker
from nocturnal.shared.http.events import serving_events
from nocturnal.shared.http.overload import InFlightLimit
from nocturnal.shared.logging import get_logger
from nocturnal.shared.metrics import UPLOAD_RECONCILE_RUNS, UPLOAD_RECONCILED
from nocturnal.shared.mongo import MONGO_DB, MongoUnitOfWork, connect, mongo_context
from nocturnal.shared.ratelimit.requests import ratelimit_client_context
from nocturnal.upload import SERVICE
from nocturnal.upload.adapters.file_repository import MongoFileRepository
from nocturnal.upload.adapters.local_storage import LocalStorage
from nocturnal.upload.adapters.s3_storage import S3Storage, open_s3_storage
from nocturnal.upload.domain.signing import UrlSigner
from nocturnal.upload.handlers.errors import PROBLEMS
from nocturnal.upload.handlers.events import event_handlers
from nocturnal.upload.keys import DOWNLOADS, FILES, STORAGE, UPLOAD_SETTINGS, UPLOAD_SLOTS
from nocturnal.upload.routes import setup_routes
from nocturnal.upload.service_layer import (
    Downloads,
    FileService,
    Reconciler,
    Reconciliation,
    Repositories,
)
from nocturnal.upload.settings import UploadSettings

log = get_logger("reconciler")


async def _create_indexes(db: AsyncDatabase[Any]) -> None:
    await MongoFileRepository(db).ensure_indexes()


def mongo_repositories(
    db: AsyncDatabase[Any],
) -> Callable[[AsyncClientSession | None], Repositories]:
    """The upload service's repositories on `db`, bound to a session (or to none)."""
    return lambda session: Repositories(
        files=MongoFileRepository(db, session), erasures=MongoErasureLedger(db, session)
    )


def _open_storage(
    settings: UploadSettings, signer: UrlSigner
) -> AbstractAsyncContextManager[S3Storage | LocalStorage]:
    """The configured storage backend, opened (directory created / S3 clients connected)."""
    if settings.storage_backend == "s3":
        return open_s3_storage(
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            endpoint_url=settings.s3_endpoint_url,
            public_endpoint_url=settings.s3_public_endpoint_url,
            create_bucket=settings.s3_create_bucket,
        )
    return _open_local_storage(settings, signer)


@asynccontextmanager
async def _open_local_storage(
    settings: UploadSettings, signer: UrlSigner
) -> AsyncIterator[LocalStorage]:
    settings.storage_local_dir.mkdir(parents=True, exist_ok=True)
    yield LocalStorage(settings.storage_local_dir, signer, settings.public_base_url)


def _storage_context(settings: UploadSettings, signer: UrlSigner) -> CleanupContext:
    async def context(app: web.Application) -> AsyncIterator[None]:
        async with _open_storage(settings, signer) as storage:
            app[STORAGE] = storage
            app[DOWNLOADS] = Downloads(storage, signer)
            app[READINESS].add("storage", storage.ready)
            reconciler = _reconciler(settings, storage, app[MONGO_DB])
            async with _reconciling_periodically(reconciler, settings.reconcile_interval_s):
                yield

    return context


def _reconciler(
    settings: UploadSettings, storage: S3Storage | LocalStorage, db: AsyncDatabase[Any]
) -> Reconciler:
    return Reconciler(
        storage,
        MongoFileRepository(db),
        upload_age=timedelta(seconds=settings.reconcile_upload_age_s),
        grace=timedelta(seconds=settings.reconcile_grace_s),
    )


@asynccontextmanager
async def open_reconciler(settings: UploadSettings) -> AsyncIterator[Reconciler]:
    """The storage reconciler on the configured storage and database, for a one-off run
    (`python -m nocturnal.ops uploads reconcile`)."""
    signer = UrlSigner(settings.url_signing_secret.get_secret_value().encode())
    client = connect(settings.mongo_url, app_name=f"{SERVICE}-reconciler")
    try:
        async with _open_storage(settings, signer) as storage:
            yield _reconciler(settings, storage, client[settings.mongo_database])
    finally:
        await client.close()


def record(report: Reconciliation) -> None:
    """Count a run's findings in the metrics (`upload_reconciled_total{action}`)."""
    UPLOAD_RECONCILED.labels("aborted_upload").inc(len(report.aborted_uploads))
    UPLOAD_RECONCILED.labels("deleted_object").inc(len(report.deleted_objects))
    UPLOAD_RECONCILED.labels("missing_object").inc(len(report.missing_objects))


@asynccontextmanager
async def _reconciling_periodically(
    reconciler: Reconciler, interval_s: float
) -> AsyncIterator[None]:
    if interval_s == 0:
        yield
        return
    async with in_background(_reconcile_every(reconciler, interval_s)):
        yield


async def _reconcile_every(reconciler: Reconciler, interval_s: float) -> None:
    while True:
        # Jitter, so that the instances of a Deployment drift apart instead of listing together.
        await asyncio.sleep(interval_s * random.uniform(0.8, 1.2))
        try:
            record(await reconciler.run())
        except Exception as exc:  # the next run retries; the metric and the log show it
            UPLOAD_RECONCILE_RUNS.labels("failed").inc()
            log.warning("storage reconciliation failed", error=repr(exc))
        else:
            UPLOAD_RECONCILE_RUNS.labels("succeeded").inc()


def _events_context(settings: UploadSettings) -> CleanupContext:
    async def context(app: web.Application) -> AsyncIterator[None]:
        db = app[MONGO_DB]
        bus = EventBus.for_service(settings, service=SERVICE, db=db)
        uow = MongoUnitOfWork(db.client, mongo_repositories(db), bus)
        files = FileService(uow, app[STORAGE], max_bytes=settings.max_bytes())
        bus.subscribe({name: uow.joining(h) for name, h in event_handlers(files).items()})
        revocations = http_revocations(
            app[HTTP_SESSION], settings.auth_url, peer_breaker(app, "auth")
        )
        async with serving_events(app, bus, revocations=revocations):
            app[FILES] = files
            yield

    return context


def create_app(settings: UploadSettings) -> web.Application:
    """The upload service application; resources open and close as cleanup contexts."""
    app = create_service_app(settings, service=SERVICE, problems=PROBLEMS)
    app[UPLOAD_SETTINGS] = settings
    app[UPLOAD_SLOTS] = InFlightLimit(
        settings.upload_max_concurrent,
        service=SERVICE,
        bound="uploads",
        detail="every upload slot of this instance is busy; retry in a moment",
    )
    signer = UrlSigner(settings.url_signing_secret.get_secret_value().encode())
    app.cleanup_ctx.extend(
        [
            http_session_context(settings.peer_timeout_s),
            token_verifier_context(settings.auth_url),
            ratelimit_client_context(settings),
            mongo_context(
                settings.mongo_url,
                settings.mongo_database,
                app_name=SERVICE,
                setup=_create_indexes,
            ),
            _storage_context(settings, signer),
            _events_context(settings),
        ]
    )
    setup_routes(app)
    return app
