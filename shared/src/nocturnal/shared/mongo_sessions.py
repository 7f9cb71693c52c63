"""Transactions a database outage cut off, aborted on the server once it answers again.

A transaction whose client gave up on it (a lost connection, a stopped or hung server, its time
limit) may still be open on the server: a hung server even runs the statements it queued once
it resumes. Until the server reaps it (`transactionLifetimeLimitSeconds`, 60 s by default on
MongoDB and SecantusDB) it holds the documents it wrote, and every other transaction writing
one of them fails with a write conflict: for Nocturnal, the poster's writes would answer 503
for a minute after the database is back. MongoDB's `killSessions` command aborts a session's
open transaction at once; this module sends it for every session an outage ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import InvalidOperation, PyMongoError

from nocturnal.shared.logging import get_logger
from nocturnal.shared.metrics import MONGO_ABANDONED_TRANSACTIONS
from nocturnal.shared.mongo_errors import database_unavailable

__all__ = ["AbandonedTransactions", "abandoned_transactions", "transaction_session"]

KILL_TIMEOUT_S: Final = 2.0
"""Seconds one `killSessions` attempt may take (server selection included)."""

_log = get_logger("mongo")
_BY_CLIENT: weakref.WeakKeyDictionary[AsyncMongoClient[Any], AbandonedTransactions] = (
    weakref.WeakKeyDictionary()
)


class AbandonedTransactions:
    """The sessions of one client whose transaction an outage ended on the client's side only;
    each is aborted on the server (`killSessions`) once the server answers again.

    :meth:`note` records a session and starts a background task, which sends `killSessions`
    with every noted session every `retry_s` seconds until an attempt gets through, then once
    more `again_s` later (a resumed server may run a statement from its backlog after the first
    kill, opening the transaction again), and forgets a session `give_up_s` after noting it (the
    server has reaped it by then). The task ends when no session is left. At most
    `max_sessions` are kept (the oldest are forgotten first).

    Every session is counted once in `mongo_abandoned_transactions_total` (`outcome`:
    `aborted`, or `expired` when forgotten unsent); each kill that gets through is one log
    line. PyMongo never reuses a session that met a connection error; one that only ran out of
    time may be serving another transaction when the kill lands, which then fails with a
    transient error (`NoSuchTransaction`) and is retried like a write conflict.

    Args:
        client: the client whose sessions these are; the kills go through it.
        retry_s, again_s, give_up_s: seconds, all > 0.
        max_sessions: >= 1.

    Raises:
        ValueError: a duration is not > 0 or `max_sessions` < 1.
    """

    def __init__(
        self,
        client: AsyncMongoClient[Any],
        *,
        retry_s: float = 1.0,
        again_s: float = 2.0,
        give_up_s: float = 75.0,
        max_sessions: int = 10_000,
    ) -> None:
        if min(retry_s, again_s, give_up_s) <= 0:
            raise ValueError("retry_s, again_s and give_up_s must be > 0 seconds")
        if max_sessions < 1:
            raise ValueError("max_sessions must be >= 1")
        self._client = client
        self._retry_s = retry_s
        self._again_s = again_s
        self._give_up_s = give_up_s
        self._max_sessions = max_sessions
        # lsid bytes -> (the session id document, monotonic time noted, killed once already)
        self._sessions: dict[bytes, tuple[Mapping[str, Any], float, bool]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Sessions noted and not yet killed twice nor forgotten."""
        return len(self._sessions)

    def note(self, session_id: Mapping[str, Any]) -> None:
        """Record a session (`AsyncClientSession.session_id`: `{"id": Binary(uuid, 4)}`) whose
        transaction an outage ended; start the background task if it is not running. Call it
        from the event loop."""
        key = bytes(session_id["id"])
        self._sessions.pop(key, None)
        self._sessions[key] = (session_id, time.monotonic(), False)
        while len(self._sessions) > self._max_sessions:
            del self._sessions[next(iter(self._sessions))]
            MONGO_ABANDONED_TRANSACTIONS.labels("expired").inc()
        if self._task is None or self._task.done():
            # A context of its own: the caller's would carry its `pymongo.timeout` deadline,
            # already spent, into every kill (and its request's log fields).
            self._task = asyncio.create_task(
                self._run(), name="mongo-abandoned-transactions", context=contextvars.Context()
            )

    async def close(self) -> None:
        """Stop the background task (what is left unsent the server reaps by itself)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while self._forget_expired():
            try:
                with pymongo.timeout(KILL_TIMEOUT_S):
                    await self._client.admin.command(
                        "killSessions", [lsid for lsid, _, _ in self._sessions.values()]
                    )
            except InvalidOperation:
                return  # the client was closed
            except PyMongoError:
                await asyncio.sleep(self._retry_s)
                continue
            self._count_kill()
            await asyncio.sleep(self._again_s)

    def _forget_expired(self) -> bool:
        """Forget the sessions noted more than `give_up_s` ago; True while any is left."""
        cutoff = time.monotonic() - self._give_up_s
        for key, (_, noted, killed) in list(self._sessions.items()):
            if noted < cutoff:
                del self._sessions[key]
                if not killed:
                    MONGO_ABANDONED_TRANSACTIONS.labels("expired").inc()
        return bool(self._sessions)

    def _count_kill(self) -> None:
        """After a kill got through: forget the sessions killed before, keep the others for
        one more kill, and count them."""
        first = 0
        for key, (lsid, noted, killed) in list(self._sessions.items()):
            if killed:
                del self._sessions[key]
            else:
                self._sessions[key] = (lsid, noted, True)
                first += 1
        if first:
            MONGO_ABANDONED_TRANSACTIONS.labels("aborted").inc(first)
            _log.info("mongo_abandoned_transactions_aborted", sessions=first)


def abandoned_transactions(client: AsyncMongoClient[Any]) -> AbandonedTransactions:
    """The one `AbandonedTransactions` of `client` (made on first use, with the defaults)."""
    found = _BY_CLIENT.get(client)
    if found is None:
        found = _BY_CLIENT[client] = AbandonedTransactions(client)
    return found


@contextlib.asynccontextmanager
async def transaction_session(client: AsyncMongoClient[Any]) -> AsyncIterator[AsyncClientSession]:
    """A session of `client` for one transaction and its retries. When a database outage
    (`mongo_errors.database_unavailable`) ends the block, the session is noted in
    `abandoned_transactions(client)`, so a transaction it left open on the server is aborted
    there once the server answers; the error propagates."""
    async with client.start_session() as session:
        try:
            yield session
        except PyMongoError as exc:
            if database_unavailable(exc):
                abandoned_transactions(client).note(session.session_id)
            raise
