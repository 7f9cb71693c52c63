"""MongoDB through PyMongo's asyncio API: client lifecycle, transactions, readiness."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from nocturnal.shared.health import READINESS
from nocturnal.shared.http.app import CleanupContext

Document = dict[str, Any]
T = TypeVar("T")
MONGO_CLIENT = web.AppKey("mongo_client", AsyncMongoClient)
MONGO_DB = web.AppKey("mongo_db", AsyncDatabase)


def connect(url: str, *, app_name: str) -> AsyncMongoClient[Document]:
    """An `AsyncMongoClient` with tz-aware UTC datetimes and bounded server-selection time."""
    return AsyncMongoClient(
        url,
        tz_aware=True,
        appname=app_name,
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=3000,
        uuidRepresentation="standard",
    )


async def in_transaction(
    client: AsyncMongoClient[Document], work: Callable[[AsyncClientSession], Awaitable[T]]
) -> T:
    """Run `work(session)` in a transaction, retried on transient errors (write conflicts).

    Uses PyMongo's `with_transaction`, which retries the whole callback on
    `TransientTransactionError` and the commit on `UnknownTransactionCommitResult` for up to
    120 s; `work` must therefore be safe to run again. Errors raised by `work` abort and
    propagate.
    """
    async with client.start_session() as session:
        return await session.with_transaction(
            work,
            read_concern=ReadConcern("majority"),
            write_concern=WriteConcern("majority"),
        )


async def ping(client: AsyncMongoClient[Document]) -> bool:
    """True when the server answers `ping`."""
    try:
        await client.admin.command("ping")
    except PyMongoError:
        return False
    return True


def mongo_context(
    url: str,
    database: str,
    *,
    app_name: str,
    setup: Callable[[AsyncDatabase[Document]], Awaitable[None]],
) -> CleanupContext:
    """aiohttp cleanup context: connect, run `setup(db)` (indexes, idempotent), register readiness.

    Stores the client at `app[MONGO_CLIENT]` and the service database at `app[MONGO_DB]`.
    """

    async def context(app: web.Application) -> AsyncIterator[None]:
        client = connect(url, app_name=app_name)
        db = client[database]
        await setup(db)
        app[MONGO_CLIENT] = client
        app[MONGO_DB] = db
        app[READINESS].add("mongodb", lambda: ping(client))
        try:
            yield
        finally:
            await client.close()

    return context
