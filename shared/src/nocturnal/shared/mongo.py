"""MongoDB through PyMongo's asyncio API: client lifecycle, transactions and the unit of work,
readiness."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

import pymongo
from aiohttp import web
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from nocturnal.shared.events.consumer import Handler
from nocturnal.shared.events.envelope import CloudEvent
from nocturnal.shared.events.outbox import Outbox
from nocturnal.shared.health import READINESS
from nocturnal.shared.http.app import CleanupContext
from nocturnal.shared.logging import get_logger
from nocturnal.shared.metrics import MONGO_COMMIT_OUTCOME_CHECKS
from nocturnal.shared.mongo_errors import CommitOutcomeUnknown, database_unavailable
from nocturnal.shared.mongo_sessions import abandoned_transactions, transaction_session
from nocturnal.shared.unit_of_work import Transaction

Document = dict[str, Any]
T = TypeVar("T")
R = TypeVar("R")
# Every operation, and every transaction with its retries, ends within this many seconds
# (PyMongo's client-side operation timeout, `timeoutMS`): an unreachable or hung server costs a
# request at most this, then it answers 503 (nocturnal.shared.mongo_errors). Long enough for a
# loaded server's slow commit, short enough to answer before the gateway's 30 s read timeout.
OPERATION_TIMEOUT_S = 10.0
# A commit whose answer `OPERATION_TIMEOUT_S` cut off is retried for this many seconds more to
# learn whether it was stored: a database back at the deadline must not turn a stored change
# into a 503 that invites the client to repeat it (a second duty, a refresh token "replayed").
COMMIT_GRACE_S = 5.0
# How long to look for a reachable server before an operation gives up (a stopped server).
SERVER_SELECTION_TIMEOUT_MS = 5000
MONGO_CLIENT = web.AppKey("mongo_client", AsyncMongoClient)
MONGO_DB = web.AppKey("mongo_db", AsyncDatabase)
_log = get_logger("mongo")


def connect(url: str, *, app_name: str) -> AsyncMongoClient[Document]:
    """An `AsyncMongoClient` with tz-aware UTC datetimes, bounded server-selection time and a
    time limit on every operation (`OPERATION_TIMEOUT_S`)."""
    return AsyncMongoClient(
        url,
        tz_aware=True,
        appname=app_name,
        serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
        connectTimeoutMS=3000,
        timeoutMS=int(OPERATION_TIMEOUT_S * 1000),
        uuidRepresentation="standard",
    )


async def in_transaction(
    client: AsyncMongoClient[Document], work: Callable[[AsyncClientSession], Awaitable[T]]
) -> T:
    """Run `work(session)` in a transaction, retried on transient errors (write conflicts).

    Uses PyMongo's `with_transaction`, which retries the whole callback on
    `TransientTransactionError` and the commit on `UnknownTransactionCommitResult` for up to
    `OPERATION_TIMEOUT_S` in all (then `ExecutionTimeout` or `NetworkTimeout`); `work` must
    therefore be safe to run again. Errors raised by `work` abort and propagate. A commit whose
    answer that limit cut off may have been stored: it is retried (`commitTransaction` is
    idempotent) for up to `COMMIT_GRACE_S` more to learn the outcome, so an error from here
    means nothing was stored, except `CommitOutcomeUnknown` (the server stayed unreachable
    through that grace too: the change may be stored). A transaction a database outage ended
    is aborted on the server once it answers (`mongo_sessions.transaction_session`).
    """
    async with transaction_session(client) as session:
        committed: list[T] = []

        async def attempt(attempt_session: AsyncClientSession) -> T:
            result = await work(attempt_session)
            committed[:] = [result]  # the last attempt is the one committed
            return result

        try:
            with pymongo.timeout(OPERATION_TIMEOUT_S):
                return await session.with_transaction(
                    attempt,
                    read_concern=ReadConcern("majority"),
                    write_concern=WriteConcern("majority"),
                )
        except PyMongoError as exc:
            if not exc.has_error_label("UnknownTransactionCommitResult"):
                raise
            cut_off = exc
        if not await _commit_again(session):
            raise cut_off
        return committed[0]


async def _commit_again(session: AsyncClientSession) -> bool:
    """Retry a commit whose answer was cut off, within `COMMIT_GRACE_S`: True when the
    transaction is stored (by the first commit or this one), False when the server no longer
    has it (`NoSuchTransaction`: aborted, or lost by a restart; nothing was stored). Counted in
    `mongo_commit_outcome_checks_total`.

    Raises:
        CommitOutcomeUnknown: the server did not answer within the grace either.
        pymongo.errors.PyMongoError: the server refused the commit otherwise.
    """
    try:
        with pymongo.timeout(COMMIT_GRACE_S):
            await session.commit_transaction()
    except PyMongoError as exc:
        if exc.has_error_label("TransientTransactionError"):
            MONGO_COMMIT_OUTCOME_CHECKS.labels("not_stored").inc()
            return False
        if database_unavailable(exc):
            MONGO_COMMIT_OUTCOME_CHECKS.labels("unknown").inc()
            _log.warning("mongo_commit_outcome_unknown", error=repr(exc))
            raise CommitOutcomeUnknown(
                f"the commit was not confirmed within {COMMIT_GRACE_S:g} s more: {exc}"
            ) from exc
        raise
    MONGO_COMMIT_OUTCOME_CHECKS.labels("stored").inc()
    return True


class EventSink(Protocol):
    """Where a unit of work's events go: the service's `EventBus` (its outbox and relay)."""

    def event(self, name: str, data: dict[str, Any], *, subject: str | None = None) -> CloudEvent:
        """A new CloudEvent of this service."""
        ...

    @property
    def outbox(self) -> Outbox:
        """The transactional outbox."""
        ...

    def notify(self) -> None:
        """Wake the relay (after a commit)."""
        ...


class MongoUnitOfWork(Generic[R]):
    """The `UnitOfWork` on MongoDB: one multi-document transaction per use case, its events
    written to the transactional outbox inside it, the relay woken after the commit.

    Args:
        client: opens the sessions.
        repositories: builds the service's repositories bound to a session (None: outside any
            transaction, for reads).
        events: the service's `EventBus` (read only inside `run`, so it may open later).
    """

    def __init__(
        self,
        client: AsyncMongoClient[Document],
        repositories: Callable[[AsyncClientSession | None], R],
        events: EventSink,
    ) -> None:
        self._client = client
        self._bind = repositories
        self._events = events
        self.repositories = repositories(None)

    async def run(self, work: Callable[[Transaction[R]], Awaitable[T]]) -> T:
        """Run `work` in a transaction (majority reads and writes) with its events; retried as
        `in_transaction` retries. The relay is woken after a commit that published events.

        Raises:
            Exception: whatever `work` raised (nothing was stored), or a `PyMongoError` that
                was not transient.
        """
        published = False

        async def attempt(session: AsyncClientSession) -> T:
            nonlocal published
            tx = Transaction(self._bind(session))
            result = await work(tx)
            await self._store(tx, session)
            published = bool(tx.events)
            return result

        result = await in_transaction(self._client, attempt)
        if published:
            self._events.notify()
        return result

    def joining(self, handle: Callable[[CloudEvent, Transaction[R]], Awaitable[None]]) -> Handler:
        """An inbox `Handler` running `handle` inside the consumer's transaction: the effect,
        its events and the inbox entry commit together (the consumer commits and wakes the
        relay)."""

        async def handler(event: CloudEvent, session: AsyncClientSession) -> None:
            tx = Transaction(self._bind(session))
            await handle(event, tx)
            await self._store(tx, session)

        return handler

    async def _store(self, tx: Transaction[R], session: AsyncClientSession) -> None:
        for event in tx.events:
            cloud_event = self._events.event(event.name, event.data, subject=event.subject)
            await self._events.outbox.add(cloud_event, session=session)


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
            await abandoned_transactions(client).close()
            await client.close()

    return context
