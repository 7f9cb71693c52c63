"""Transactional outbox in MongoDB and the relay that publishes it to RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import structlog
from bson import ObjectId
from pydantic import ValidationError
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from nocturnal.shared.events.envelope import CloudEvent
from nocturnal.shared.events.publisher import ConfirmedPublisher, PublishError

__all__ = ["OUTBOX_COLLECTION", "Outbox", "OutboxRelay"]

OUTBOX_COLLECTION: Final = "outbox"
DEFAULT_RETENTION: Final = timedelta(days=7)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ERROR_MAX_CHARS: Final = 500
_ENTRY_FAILURES: Final = frozenset({"unroutable", "nacked"})
"""Publish failures of one message (the broker is fine): skip it and go on with the next."""

_log = structlog.get_logger(__name__)


class Outbox:
    """The ``outbox`` collection of a service database: events waiting to be published.

    An event is added in the same MongoDB transaction as the state change it announces, so both
    are stored or neither is (the transactional outbox pattern). Entry shape::

        {_id: ObjectId, event_id: str, routing_key: str, event: {<CloudEvent JSON>},
         created_at: datetime, lease_until: datetime, lease_owner: str | None (the token of
         the relay batch holding the lease),
         attempts: int, sent_at: datetime | None, last_error: str | None}

    Pending entries have ``sent_at: null``; sent ones are removed by a TTL index.
    """

    def __init__(self, db: AsyncDatabase[Any]) -> None:
        self.collection: AsyncCollection[Any] = db[OUTBOX_COLLECTION]

    async def ensure_indexes(self, *, retention: timedelta = DEFAULT_RETENTION) -> None:
        """Create the outbox indexes; idempotent (same names and options every time).

        ``(sent_at, created_at, _id)`` serves the relay's "oldest pending first" claim; a unique
        ``event_id`` forbids adding one event twice; a TTL index on ``sent_at`` deletes sent
        entries ``retention`` after sending (pending ones have no date and are never deleted).

        Raises:
            pymongo.errors.PyMongoError: MongoDB refused or is unreachable.
        """
        await self.collection.create_index(
            [("sent_at", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)],
            name="pending_by_age",
        )
        await self.collection.create_index("event_id", unique=True, name="event_id_unique")
        await self.collection.create_index(
            "sent_at", expireAfterSeconds=int(retention.total_seconds()), name="sent_ttl"
        )

    async def add(self, event: CloudEvent, *, session: AsyncClientSession) -> None:
        """Insert ``event`` as a pending entry inside the caller's transaction on ``session``.

        The relay sees it only once that transaction commits; after an abort it never existed.
        Call the relay's ``notify()`` after the commit to publish it without waiting for a poll.

        Raises:
            ValueError: ``session`` has no transaction in progress.
            pymongo.errors.DuplicateKeyError: this event id is already in the outbox.
            pymongo.errors.PyMongoError: any other MongoDB failure (the transaction then aborts).
        """
        if not session.in_transaction:
            raise ValueError("Outbox.add must run inside the caller's transaction")
        now = datetime.now(UTC)
        entry = {
            "_id": ObjectId(),
            "event_id": event.id,
            "routing_key": event.name,
            "event": event.model_dump(mode="json", exclude_none=True),
            "created_at": now,
            "lease_until": _EPOCH,
            "lease_owner": None,
            "attempts": 0,
            "sent_at": None,
            "last_error": None,
        }
        await self.collection.insert_one(entry, session=session)

    async def backlog(self) -> tuple[int, datetime | None]:
        """How many entries are unpublished, and when the oldest of them was added (None when
        there is none); both served by the pending index."""
        pending = {"sent_at": None}
        count = await self.collection.count_documents(pending)
        oldest = await self.collection.find_one(
            pending, {"created_at": 1}, sort=[("created_at", ASCENDING), ("_id", ASCENDING)]
        )
        return count, None if oldest is None else oldest["created_at"]


class OutboxRelay:
    """Background task that publishes pending outbox entries and marks them sent.

    Entries are claimed in batches, oldest first (``created_at``, then insertion order within a
    process), published concurrently with :meth:`ConfirmedPublisher.publish_confirmed`, and
    marked sent (``sent_at``) only after the broker's confirm. Several relays (one per service
    instance) run at once. A claim is two steps: a ``find`` of the oldest claimable ids (served
    by the ``pending_by_age`` index; ``find_one_and_update`` with a sort is not, on SecantusDB),
    then one ``update_many`` that leases exactly those still claimable (``lease_until`` in the
    past) to a token unique to this batch. Each document's update is atomic, so of two relays
    racing for an entry only one gets its token on it, and only entries carrying this batch's
    token are published: no entry is published by two relays at once while its lease holds.

    An entry the broker confirmed but MongoDB did not mark (the database failed in between) is
    remembered by id and marked before the relay claims anything else, so a database outage
    shorter than the lease publishes nothing twice. A relay that dies after the confirm but
    before marking, or an outage that outlasts the lease, leaves the entry to be published
    again once the lease expires: delivery is at-least-once and consumers deduplicate by event
    id. A batch is abandoned (left leased, not marked) if its publishes outlast 80 % of the
    lease, so a slow broker never lets a lease lapse under a publish in flight. A failed
    publish keeps the entry and makes it claimable again after an exponential backoff (with
    jitter); nothing is deleted except by the TTL on sent entries. Order is best-effort: a
    failing entry does not block later ones. Leases compare the relays' clocks, so they must be
    kept in sync (NTP); the lease is far longer than any expected skew.

    Args:
        db: the service database holding the ``outbox`` collection.
        publisher: publishes with confirm, safe for concurrent calls; raises
            :class:`PublishError` on failure.
        poll_interval: seconds between polls when not woken by :meth:`notify`.
        lease: seconds a claimed entry is reserved for this relay; must exceed the publisher's
            confirm timeout.
        retry_base, retry_max: seconds; the n-th failed attempt waits about
            ``min(retry_max, retry_base * 2**(n-1))`` before the entry is tried again.
        batch_size: entries claimed (and published concurrently) at once.
        linger: seconds the background task waits after a :meth:`notify` before claiming, so
            that entries committed right after join the same batch (each claim costs the
            database three operations however many entries it takes).
        owner: lease owner id (default: a random one per relay).

    Raises:
        ValueError: a duration is not > 0 or ``batch_size`` is not >= 1.
    """

    def __init__(
        self,
        db: AsyncDatabase[Any],
        publisher: ConfirmedPublisher,
        *,
        poll_interval: float = 1.0,
        lease: float = 30.0,
        retry_base: float = 0.5,
        retry_max: float = 60.0,
        batch_size: int = 100,
        linger: float = 0.02,
        owner: str | None = None,
    ) -> None:
        if min(poll_interval, lease, retry_base, retry_max) <= 0:
            raise ValueError("poll_interval, lease, retry_base and retry_max must be > 0 seconds")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.outbox = Outbox(db)
        self._publisher = publisher
        self._poll_interval = poll_interval
        self._lease = timedelta(seconds=lease)
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._batch_size = batch_size
        self._linger = linger
        self._owner = owner or uuid.uuid4().hex
        self._batches = 0
        self._unmarked: set[ObjectId] = set()
        """Ids of entries the broker confirmed that are not yet marked sent in MongoDB."""
        self._wake = asyncio.Event()
        self._stopping = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True while the background task runs."""
        return self._task is not None and not self._task.done()

    async def ensure_indexes(self, *, retention: timedelta = DEFAULT_RETENTION) -> None:
        """Create the outbox indexes (see :meth:`Outbox.ensure_indexes`); idempotent."""
        await self.outbox.ensure_indexes(retention=retention)

    async def start(self) -> None:
        """Start the background task; it publishes what is pending right away.

        Raises:
            RuntimeError: already started.
        """
        if self._task is not None:
            raise RuntimeError("OutboxRelay already started")
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self._owner}")

    def notify(self) -> None:
        """Wake the relay now, e.g. right after committing a transaction that added an entry."""
        self._wake.set()

    async def stop(self, grace_period: float = 10.0) -> None:
        """Stop the background task after the entry in hand (cancelled after ``grace_period`` s)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(task, grace_period)
        except TimeoutError:
            _log.warning("outbox_relay_stop_timeout", grace_period_s=grace_period)

    # The timeout is part of the result (False when it expires), not a cancellation scope.
    async def flush(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Publish everything claimable now, for a graceful shutdown; wait at most ``timeout`` s.

        Returns True when no claimable pending entry is left (entries leased by other relays are
        theirs), False on timeout or after a failed publish (the entry stays pending).
        """
        try:
            async with asyncio.timeout(timeout):
                await self.publish_pending()
        except TimeoutError:
            _log.warning("outbox_flush_timeout", timeout_s=timeout)
            return False
        except (PublishError, PyMongoError):
            return False
        return True

    async def publish_pending(self) -> int:
        """Claim, publish and mark sent pending entries, oldest first, until none is claimable.

        Returns the number published. One drain runs at a time per relay (the background task,
        :meth:`flush` and direct callers share a lock).

        Raises:
            PublishError: a publish failed; the entry was released for a retry after backoff.
                A broker failure ends the pass at once; an entry's own failure (unroutable,
                nacked) is raised only after the entries behind it were tried.
            pymongo.errors.PyMongoError: MongoDB failed (a claimed entry is retried after its
                lease expires).
        """
        return await self._drain(until_stopped=False)

    async def _drain(self, *, until_stopped: bool) -> int:
        published = 0
        skipped: PublishError | None = None
        async with self._lock:
            while not (until_stopped and self._stopping):
                await self._mark_sent()
                claimed = await self._claim()
                if claimed is None:
                    break
                token, entries, full = claimed
                sent, failures = await self._publish_batch(token, entries)
                published += sent
                broker = [exc for exc in failures if exc.reason not in _ENTRY_FAILURES]
                if broker:
                    raise broker[0]
                # An entry's own fault: the ones behind it must not wait.
                skipped = failures[0] if failures else skipped
                if not full:
                    break  # nothing more was claimable; what is added since calls notify()
        if skipped is not None:
            raise skipped
        return published

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self._drain(until_stopped=True)
            except PublishError as exc:
                _log.debug("outbox_relay_backing_off", reason=exc.reason)
            except PyMongoError as exc:
                _log.warning("outbox_relay_mongo_error", error=repr(exc))
            except Exception:
                _log.exception("outbox_relay_unexpected_error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            if self._wake.is_set() and not self._stopping:
                # Let the commits right behind this one join its batch: fewer, fuller claims.
                await asyncio.sleep(self._linger)

    async def _claim(self) -> tuple[str, list[dict[str, Any]], bool] | None:
        """Lease up to ``batch_size`` claimable entries to a fresh token; return it, them, and
        whether the find was full (more may be claimable behind them).

        None when nothing is claimable. Fewer entries than found (even none) when other relays
        leased some between the find and the update.
        """
        now = datetime.now(UTC)
        claimable = {"sent_at": None, "lease_until": {"$lte": now}}
        found: list[dict[str, Any]] = await self.outbox.collection.find(
            claimable,
            sort=[("created_at", ASCENDING), ("_id", ASCENDING)],
            limit=self._batch_size,
        ).to_list()
        if not found:
            return None
        self._batches += 1
        token = f"{self._owner}:{self._batches}"
        ids = [entry["_id"] for entry in found]
        result = await self.outbox.collection.update_many(
            {"_id": {"$in": ids}, **claimable},
            {
                "$set": {"lease_until": now + self._lease, "lease_owner": token},
                "$inc": {"attempts": 1},
            },
        )
        if result.modified_count < len(ids):
            # Another relay took some between the find and the update: keep only ours.
            ours = await self.outbox.collection.find(
                {"_id": {"$in": ids}, "lease_owner": token}, {"_id": 1}
            ).to_list()
            won = {entry["_id"] for entry in ours}
            found = [entry for entry in found if entry["_id"] in won]
        full = len(ids) == self._batch_size
        for entry in found:
            entry["attempts"] = int(entry["attempts"]) + 1
        return token, found, full

    async def _publish_batch(
        self, token: str, entries: list[dict[str, Any]]
    ) -> tuple[int, list[PublishError]]:
        """Publish ``entries`` concurrently, mark the confirmed ones sent, release the failed.

        Returns the number marked sent and the publish failures, in entry order.
        """
        events: list[tuple[dict[str, Any], CloudEvent]] = []
        for entry in entries:
            try:
                events.append((entry, CloudEvent.model_validate(entry["event"])))
            except ValidationError as exc:
                # Cannot happen for entries written by Outbox.add; keep it for a human, never drop.
                await self._release(token, entry, f"corrupt entry: {exc}", delay=self._retry_max)
        try:
            async with asyncio.timeout(self._lease.total_seconds() * 0.8):
                results = await asyncio.gather(
                    *(self._publisher.publish_confirmed(event) for _, event in events),
                    return_exceptions=True,
                )
        except TimeoutError:
            # Left leased, not marked: published again once the lease expires (at-least-once).
            _log.warning("outbox_batch_abandoned", entries=len(events), token=token)
            return 0, [PublishError(events[0][1], "timeout", "batch outlasted its lease")]
        sent = [
            entry["_id"]
            for (entry, _), result in zip(events, results, strict=True)
            if result is None
        ]
        self._unmarked.update(sent)
        await self._mark_sent()
        failures: list[PublishError] = []
        for (entry, _), result in zip(events, results, strict=True):
            if isinstance(result, PublishError):
                failures.append(result)
                await self._release(token, entry, str(result), delay=self._backoff(entry))
            elif result is not None:
                raise result  # not a publish failure: a bug; the entry waits for its lease
        return len(sent), failures

    async def _mark_sent(self) -> None:
        """Mark sent every entry the broker confirmed; kept in ``_unmarked`` until MongoDB took it.

        Marks whoever holds the lease now: the broker has the event, so publishing it again
        would only repeat it.

        Raises:
            pymongo.errors.PyMongoError: MongoDB failed; the ids stay to be marked next time.
        """
        if not self._unmarked:
            return
        ids = list(self._unmarked)
        await self.outbox.collection.update_many(
            {"_id": {"$in": ids}, "sent_at": None},
            {"$set": {"sent_at": datetime.now(UTC), "lease_owner": None, "last_error": None}},
        )
        self._unmarked.difference_update(ids)

    async def _release(
        self, token: str, entry: dict[str, Any], error: str, *, delay: float
    ) -> None:
        _log.warning(
            "outbox_publish_failed",
            event_id=entry.get("event_id"),
            attempts=entry.get("attempts"),
            retry_in_s=round(delay, 3),
            error=error,
        )
        await self.outbox.collection.update_one(
            {"_id": entry["_id"], "lease_owner": token},
            {
                "$set": {
                    "lease_until": datetime.now(UTC) + timedelta(seconds=delay),
                    "last_error": error[:_ERROR_MAX_CHARS],
                }
            },
        )

    def _backoff(self, entry: dict[str, Any]) -> float:
        attempts = int(entry["attempts"])
        delay = min(self._retry_max, self._retry_base * 2.0 ** max(attempts - 1, 0))
        return delay * random.uniform(0.5, 1.0)
