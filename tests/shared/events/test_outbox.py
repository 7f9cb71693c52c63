"""Transactional outbox and relay against real MongoDB (SecantusDB) and RabbitMQ."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from chaos.servers import RestartableMongo, answering_again
from events_scratch import Scratch
from polling import eventually
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from severable_proxy import SeverableProxy

from nocturnal.shared.events.envelope import CloudEvent, new_event, parse
from nocturnal.shared.events.outbox import Outbox, OutboxRelay
from nocturnal.shared.events.publisher import EventPublisher, PublishError


async def add_committed(db: AsyncDatabase[Any], *events: CloudEvent) -> None:
    """Add ``events`` to the outbox in one committed transaction, as a service would."""
    outbox = Outbox(db)
    async with db.client.start_session() as session, await session.start_transaction():
        await db["duties"].insert_one({"title": "night shift"}, session=session)
        for event in events:
            await outbox.add(event, session=session)


async def pending(outbox: Outbox) -> int:
    """Entries the broker has not confirmed yet."""
    return await outbox.collection.count_documents({"sent_at": None})


def duty_event(n: int = 0) -> CloudEvent:
    return new_event("duty.posted", {"n": n}, service="api")


class BlockingPublisher:
    """A fake publisher that holds every publish until released, recording what it got."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.published: list[CloudEvent] = []

    async def publish_confirmed(self, event: CloudEvent) -> None:
        self.started.set()
        await self.release.wait()
        self.published.append(event)


class RecordingPublisher:
    """A fake publisher that fails its first ``failures`` calls, then records the events."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.published: list[CloudEvent] = []

    async def publish_confirmed(self, event: CloudEvent) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise PublishError(event, "nacked")
        self.published.append(event)


async def test_add_refuses_to_run_outside_a_transaction(db: AsyncDatabase[Any]) -> None:
    async with db.client.start_session() as session:
        with pytest.raises(ValueError, match="transaction"):
            await Outbox(db).add(duty_event(), session=session)


async def test_entry_of_an_aborted_transaction_is_never_published(
    db: AsyncDatabase[Any], scratch: Scratch
) -> None:
    queue = scratch.service_queue("api", ["duty.posted"])
    await scratch.declare(queue)
    outbox = Outbox(db)
    with pytest.raises(RuntimeError, match="business rule"):
        async with db.client.start_session() as session, await session.start_transaction():
            await outbox.add(duty_event(), session=session)
            raise RuntimeError("business rule violated")

    async with EventPublisher(scratch.connection, scratch.exchange) as publisher:
        assert await OutboxRelay(db, publisher).publish_pending() == 0

    assert await db["outbox"].count_documents({}) == 0
    assert await scratch.get_or_none(queue.name, within=0.2) is None


async def test_committed_entry_is_published_once_and_marked_sent(
    db: AsyncDatabase[Any], scratch: Scratch
) -> None:
    queue = scratch.service_queue("api", ["duty.posted"])
    await scratch.declare(queue)
    event = duty_event()
    await add_committed(db, event)

    async with EventPublisher(scratch.connection, scratch.exchange) as publisher:
        relay = OutboxRelay(db, publisher)
        assert await relay.publish_pending() == 1
        assert await relay.publish_pending() == 0

    messages = await scratch.drain(queue.name)
    assert [parse(m.body) for m in messages] == [event]
    entry = await db["outbox"].find_one({"event_id": event.id})
    assert entry is not None
    assert entry["sent_at"] is not None
    assert entry["attempts"] == 1
    assert await pending(relay.outbox) == 0


async def test_background_relay_publishes_right_after_notify(
    db: AsyncDatabase[Any], scratch: Scratch
) -> None:
    queue = scratch.service_queue("api", ["duty.posted"])
    await scratch.declare(queue)
    event = duty_event()
    async with EventPublisher(scratch.connection, scratch.exchange) as publisher:
        relay = OutboxRelay(db, publisher, poll_interval=60)
        await relay.start()
        await asyncio.sleep(0)  # let the first (empty) drain run
        await add_committed(db, event)
        relay.notify()

        message = await scratch.get(queue.name, within=5)
        await relay.stop()

    assert parse(message.body) == event


async def test_relay_retries_a_failed_publish_without_losing_the_entry(
    db: AsyncDatabase[Any], scratch: Scratch
) -> None:
    event = duty_event()
    await add_committed(db, event)

    # The exchange does not exist yet: the broker refuses every publish.
    async with EventPublisher(scratch.connection, scratch.exchange) as publisher:
        relay = OutboxRelay(db, publisher, poll_interval=0.05, retry_base=0.05, retry_max=0.2)
        await relay.start()

        async def failed_twice() -> bool:
            entry = await db["outbox"].find_one({"event_id": event.id})
            return entry is not None and entry["attempts"] >= 2 and entry["last_error"] is not None

        await eventually(failed_twice, "two failed attempts")
        assert await pending(relay.outbox) == 1

        queue = scratch.service_queue("api", ["duty.posted"])
        await scratch.declare(queue)
        message = await scratch.get(queue.name)
        await relay.stop()

    assert parse(message.body) == event
    entry = await db["outbox"].find_one({"event_id": event.id})
    assert entry is not None and entry["sent_at"] is not None
    assert entry["last_error"] is None


async def test_relay_keeps_entries_through_a_broker_outage(
    db: AsyncDatabase[Any],
    scratch: Scratch,
    amqp_url: str,
    proxy: SeverableProxy,
) -> None:
    queue = scratch.service_queue("api", ["duty.posted"])
    await scratch.declare(queue)
    connection = await aio_pika.connect_robust(proxy.url(amqp_url, reconnect_interval="0.2"))
    event = duty_event()
    try:
        async with EventPublisher(connection, scratch.exchange, confirm_timeout=1) as publisher:
            relay = OutboxRelay(db, publisher, poll_interval=0.05, retry_base=0.05, retry_max=0.2)
            proxy.refusing = True
            proxy.sever()
            await add_committed(db, event)
            await relay.start()

            async def failed() -> bool:
                entry = await db["outbox"].find_one({"event_id": event.id})
                return entry is not None and entry["last_error"] is not None

            await eventually(failed, "a publish to fail during the outage")
            assert await pending(relay.outbox) == 1
            proxy.refusing = False
            message = await scratch.get(queue.name)
            await relay.stop()
    finally:
        await connection.close()

    assert parse(message.body) == event
    await eventually(_all_sent(db), "the entry to be marked sent")


def _all_sent(db: AsyncDatabase[Any]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(await pending(Outbox(db)) == 0)

    return check


async def test_failed_entry_backs_off_and_is_retried(db: AsyncDatabase[Any]) -> None:
    publisher = RecordingPublisher(failures=1)
    # A backoff of 0.5-1 s: the next pass surely falls inside it, even on a loaded machine
    # (25-50 ms did not), and it is short enough to wait for.
    relay = OutboxRelay(db, publisher, retry_base=1.0, retry_max=1.0)
    event = duty_event()
    await add_committed(db, event)

    with pytest.raises(PublishError):
        await relay.publish_pending()
    assert await relay.publish_pending() == 0  # still backing off

    async def retried() -> bool:
        return await relay.publish_pending() == 1

    await eventually(retried, "the entry published again after its backoff")
    assert publisher.published == [event]


async def test_two_relays_do_not_publish_the_same_entries(
    db: AsyncDatabase[Any], scratch: Scratch
) -> None:
    queue = scratch.service_queue("api", ["duty.posted"])
    await scratch.declare(queue)
    events = [duty_event(n) for n in range(30)]
    await add_committed(db, *events)

    async with (
        EventPublisher(scratch.connection, scratch.exchange) as first,
        EventPublisher(scratch.connection, scratch.exchange) as second,
    ):
        counts = await asyncio.gather(
            OutboxRelay(db, first, batch_size=3).publish_pending(),
            OutboxRelay(db, second, batch_size=3).publish_pending(),
        )

    assert sum(counts) == 30
    received = [parse(m.body).id for m in await scratch.drain(queue.name)]
    assert sorted(received) == sorted(e.id for e in events)


async def test_a_leased_entry_is_not_claimed_by_another_relay(db: AsyncDatabase[Any]) -> None:
    await add_committed(db, duty_event())
    slow = BlockingPublisher()
    other = RecordingPublisher()
    holding = asyncio.create_task(OutboxRelay(db, slow).publish_pending())
    await asyncio.wait_for(slow.started.wait(), 5)

    assert await OutboxRelay(db, other).publish_pending() == 0

    slow.release.set()
    assert await holding == 1
    assert other.published == []
    assert len(slow.published) == 1


async def test_an_expired_lease_lets_another_relay_publish_again(db: AsyncDatabase[Any]) -> None:
    await add_committed(db, duty_event())
    crashed = BlockingPublisher()
    holding = asyncio.create_task(OutboxRelay(db, crashed, lease=0.1).publish_pending())
    await asyncio.wait_for(crashed.started.wait(), 5)
    holding.cancel()  # the relay dies holding the lease
    await asyncio.sleep(0.15)

    survivor = RecordingPublisher()
    assert await OutboxRelay(db, survivor).publish_pending() == 1
    assert len(survivor.published) == 1


async def test_entries_are_published_oldest_first(db: AsyncDatabase[Any]) -> None:
    events = [duty_event(n) for n in range(5)]
    for event in events:
        await add_committed(db, event)
    publisher = RecordingPublisher()

    await OutboxRelay(db, publisher).publish_pending()

    assert publisher.published == events


async def test_flush_publishes_what_is_pending(db: AsyncDatabase[Any]) -> None:
    await add_committed(db, duty_event(1), duty_event(2))
    publisher = RecordingPublisher()

    assert await OutboxRelay(db, publisher).flush(timeout=5) is True
    assert len(publisher.published) == 2


async def test_flush_reports_a_failure(db: AsyncDatabase[Any]) -> None:
    await add_committed(db, duty_event())

    assert await OutboxRelay(db, RecordingPublisher(failures=1)).flush(timeout=5) is False
    assert await pending(Outbox(db)) == 1


async def test_flush_reports_a_timeout(db: AsyncDatabase[Any]) -> None:
    await add_committed(db, duty_event())
    stuck = BlockingPublisher()

    assert await OutboxRelay(db, stuck).flush(timeout=0.1) is False
    assert await pending(Outbox(db)) == 1


async def test_indexes_are_created_idempotently_with_a_ttl_on_sent_entries(
    db: AsyncDatabase[Any],
) -> None:
    outbox = Outbox(db)
    await outbox.ensure_indexes()
    await outbox.ensure_indexes()

    indexes = await db["outbox"].index_information()
    assert indexes["sent_ttl"]["expireAfterSeconds"] == 7 * 24 * 3600
    assert indexes["sent_ttl"]["key"] == [("sent_at", 1)]
    assert indexes["event_id_unique"]["unique"] is True
    assert "pending_by_age" in indexes


async def test_relay_stop_is_graceful_and_idempotent(db: AsyncDatabase[Any]) -> None:
    relay = OutboxRelay(db, RecordingPublisher())
    await relay.start()
    assert relay.running
    with pytest.raises(RuntimeError):
        await relay.start()

    await relay.stop()
    await relay.stop()

    assert not relay.running


class UnroutablePublisher:
    """A fake publisher for which one event name has no queue (returned as unroutable)."""

    def __init__(self, unroutable: str) -> None:
        self.unroutable = unroutable
        self.published: list[CloudEvent] = []

    async def publish_confirmed(self, event: CloudEvent) -> None:
        if event.name == self.unroutable:
            raise PublishError(event, "unroutable")
        self.published.append(event)


async def test_an_entry_that_keeps_failing_does_not_hold_back_the_ones_behind_it(
    db: AsyncDatabase[Any],
) -> None:
    stuck = [new_event("user.login_failed", {"n": n}, service="auth") for n in range(5)]
    await add_committed(db, *stuck, duty_event(1), duty_event(2))
    publisher = UnroutablePublisher("user.login_failed")
    relay = OutboxRelay(db, publisher)

    with pytest.raises(PublishError, match="unroutable"):
        await relay.publish_pending()

    assert [e.data["n"] for e in publisher.published] == [1, 2]
    assert await db["outbox"].count_documents({"sent_at": None}) == 5


async def test_a_broker_failure_ends_the_pass_and_backs_off(db: AsyncDatabase[Any]) -> None:
    class BrokerDown:
        calls = 0

        async def publish_confirmed(self, event: CloudEvent) -> None:
            self.calls += 1
            raise PublishError(event, "timeout")

    await add_committed(db, duty_event(1), duty_event(2), duty_event(3))
    publisher = BrokerDown()
    relay = OutboxRelay(db, publisher, batch_size=2, retry_base=30)
    with pytest.raises(PublishError):
        await relay.publish_pending()
    assert publisher.calls == 2  # the first batch; the entry behind it is not tried

    with pytest.raises(PublishError):
        await relay.publish_pending()  # only the untried entry: the batch backs off
    assert publisher.calls == 3
    assert await relay.publish_pending() == 0
    assert publisher.calls == 3


class OverlapDetector:
    """A fake publisher that records every publish and every event published by two at once."""

    def __init__(self) -> None:
        self.in_flight: set[str] = set()
        self.overlaps: list[str] = []
        self.published: list[str] = []

    async def publish_confirmed(self, event: CloudEvent) -> None:
        if event.id in self.in_flight:
            self.overlaps.append(event.id)
        self.in_flight.add(event.id)
        await asyncio.sleep(0.001)
        self.in_flight.discard(event.id)
        self.published.append(event.id)


async def test_several_relays_on_one_outbox_publish_every_entry_exactly_once(
    db: AsyncDatabase[Any],
) -> None:
    events = [duty_event(n) for n in range(120)]
    await add_committed(db, *events)
    publisher = OverlapDetector()
    relays = [OutboxRelay(db, publisher, batch_size=7) for _ in range(4)]

    counts = await asyncio.gather(*(relay.publish_pending() for relay in relays))

    assert publisher.overlaps == []
    assert sorted(publisher.published) == sorted(e.id for e in events)
    assert sum(counts) == 120
    assert sum(1 for count in counts if count > 0) >= 2  # the relays really shared the work
    assert await pending(Outbox(db)) == 0


class WinnerFirst:
    """The loser's outbox collection: the winner claims between the loser's find and update."""

    def __init__(self, collection: Any, winner: OutboxRelay) -> None:
        self.collection, self.winner = collection, winner
        self.raced = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)

    async def update_many(self, *args: Any, **kwargs: Any) -> Any:
        if not self.raced:
            self.raced = True
            claimed = await self.winner._claim()  # one batch of the winner's
            assert claimed is not None
            token, entries, _ = claimed
            await self.winner._publish_batch(token, entries)
        return await self.collection.update_many(*args, **kwargs)


async def test_a_relay_that_loses_the_race_for_a_batch_claims_the_next_one(
    db: AsyncDatabase[Any],
) -> None:
    events = [duty_event(n) for n in range(8)]
    await add_committed(db, *events)
    first, second = RecordingPublisher(), RecordingPublisher()
    winner = OutboxRelay(db, first, batch_size=5)
    loser = OutboxRelay(db, second, batch_size=5)
    loser.outbox.collection = WinnerFirst(loser.outbox.collection, winner)  # type: ignore[assignment]

    # The loser found entries 0-4, the winner published them, the loser leased none of them.
    assert await loser.publish_pending() == 3

    assert [e.data["n"] for e in first.published] == [0, 1, 2, 3, 4]
    assert [e.data["n"] for e in second.published] == [5, 6, 7]
    assert await pending(Outbox(db)) == 0


async def test_a_relay_dying_mid_batch_loses_nothing(db: AsyncDatabase[Any]) -> None:
    events = [duty_event(n) for n in range(6)]
    await add_committed(db, *events)

    class DiesAfterTwo:
        def __init__(self) -> None:
            self.confirmed: list[str] = []
            self.stuck = asyncio.Event()

        async def publish_confirmed(self, event: CloudEvent) -> None:
            if len(self.confirmed) < 2:
                self.confirmed.append(event.id)
                return
            self.stuck.set()
            await asyncio.Event().wait()

    dying = DiesAfterTwo()
    holding = asyncio.create_task(OutboxRelay(db, dying, lease=3.0).publish_pending())
    await asyncio.wait_for(dying.stuck.wait(), 5)
    holding.cancel()  # dies after two confirms, before marking anything
    with pytest.raises(asyncio.CancelledError):
        await holding

    survivor = RecordingPublisher()
    assert await OutboxRelay(db, survivor).publish_pending() == 0  # still leased

    async def republished() -> bool:
        await OutboxRelay(db, survivor).publish_pending()
        return len(survivor.published) == 6

    await eventually(republished, "the dead relay's batch published once its lease expired")
    assert sorted(e.id for e in survivor.published) == sorted(e.id for e in events)
    assert await pending(Outbox(db)) == 0


class CutsMongoAtFirstPublish:
    """Records every event; the first publish takes MongoDB away (stopped or hung) after the
    broker has it, so the relay's marking is what fails."""

    def __init__(self, cut: Callable[[], None]) -> None:
        self.cut: Callable[[], None] | None = cut
        self.published: list[CloudEvent] = []

    async def publish_confirmed(self, event: CloudEvent) -> None:
        self.published.append(event)
        if self.cut is not None:
            cut, self.cut = self.cut, None
            await asyncio.to_thread(cut)


@pytest.mark.parametrize("outage", ["stopped", "paused"])
async def test_a_database_outage_between_confirm_and_mark_publishes_nothing_twice(
    outage: str, tmp_path: Path
) -> None:
    # A MongoDB of the test's own: the test stops or pauses it. A paused one may still apply
    # the timed-out mark when it resumes; the relay's second mark must then change nothing.
    with RestartableMongo(tmp_path / "data", tmp_path) as mongo:
        cut, repair = {
            "stopped": (mongo.stop, mongo.start),
            "paused": (mongo.pause, mongo.resume),
        }[outage]
        client: AsyncMongoClient[Any] = AsyncMongoClient(
            mongo.url, tz_aware=True, serverSelectionTimeoutMS=1000, timeoutMS=2000
        )
        try:
            db = client["test_outbox_outage"]
            events = [duty_event(n) for n in range(3)]
            await add_committed(db, *events)
            publisher = CutsMongoAtFirstPublish(cut)
            lease_s = 8.0
            relay = OutboxRelay(db, publisher, lease=lease_s)
            leased_at = time.monotonic()

            with pytest.raises(PyMongoError):
                await relay.publish_pending()  # all three confirmed, none marked
            repair()
            await answering_again(client)
            assert await relay.publish_pending() == 0  # marks the three before claiming more

            # Past the lease, another relay finds nothing to publish again.
            await asyncio.sleep(max(0.0, leased_at + lease_s + 0.5 - time.monotonic()))
            assert await OutboxRelay(db, publisher).publish_pending() == 0
            assert sorted(e.id for e in publisher.published) == sorted(e.id for e in events)
            assert await pending(Outbox(db)) == 0
        finally:
            await client.close()
