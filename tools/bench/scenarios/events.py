"""P6: events. Outbox-to-consumer latency at a steady rate, and relay throughput on a backlog.

Latency: duties are posted at a fixed rate (open loop); each `duty.posted` outbox entry's
`created_at` (written in the duty's transaction) is matched with the api consumer's inbox
`processed_at` (written when the consumer applies it), both on this machine's clock, with
MongoDB's millisecond resolution. Baseline: the broker alone, publish (with confirm) to a
consumer in the bench at the same rate.
Relay throughput: copies of a real entry with fresh ids are put in the outbox at once (as after
a broker outage), and the relay's `sent_at` stamps give its rate. Baseline: one publisher
sending the same messages one confirm at a time, as the relay does, without MongoDB.
Sent entries are taken out of the outbox while the bench runs (see `SentEntries`: SecantusDB's
multi-document updates slow down as they pile up; MongoDB's do not).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aio_pika
import numpy as np
import pymongo
from bson import ObjectId

from tools.bench.accounts import duty_body
from tools.bench.context import Run, alternate
from tools.bench.loadgen import Request
from tools.bench.results import Figure
from tools.bench.targets import P6_P95_MS

API_DATABASE = "nocturnal_api"
EVENT = "duty.posted"
BASELINE_KEY = "bench.baseline"
SETTLE_S = 20.0  # how long the relay and the consumer get to finish after the load stops
LOW_RATE = 20.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/max; an event never processed counts as an infinite latency."""
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    found = np.percentile(np.asarray(values), [50, 95, 99, 100], method="higher")
    return dict(zip(("p50", "p95", "p99", "max"), (round(float(v), 2) for v in found), strict=True))


def _ms(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() * 1000


def _wait_processed(db: Any, event_ids: list[str], deadline_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + deadline_s
    while True:
        done = list(db.inbox.find({"_id": {"$in": event_ids}}, {"processed_at": 1}))
        if len(done) >= len(event_ids) or time.monotonic() > deadline:
            return done
        time.sleep(0.5)


class SentEntries:
    """Takes sent entries out of the api's outbox as the relay marks them, keeping their stamps.

    The relay's claim `find` is served by the `pending_by_age` index on SecantusDB too, but its
    `update_many` by ids grows slower as sent entries pile up (2.8 ms at 100 entries, 7.9 ms at
    3,000); MongoDB's does not. Deleting what the TTL index would delete a week later keeps the
    bench measuring the relay and the consumer, not SecantusDB's storage.
    """

    def __init__(self, db: Any, interval_s: float = 0.2) -> None:
        self.db, self.interval_s = db, interval_s
        self.stamps: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="outbox-pruner", daemon=True)

    def take(self) -> None:
        """Record and delete every entry the relay has marked sent."""
        sent = list(self.db.outbox.find({"sent_at": {"$ne": None}}))
        for entry in sent:
            self.stamps[entry["event_id"]] = entry
        if sent:
            self.db.outbox.delete_many({"_id": {"$in": [entry["_id"] for entry in sent]}})

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.take()

    def __enter__(self) -> SentEntries:
        self.take()
        self.stamps.clear()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        deadline = time.monotonic() + SETTLE_S
        while self.db.outbox.count_documents({"sent_at": None}) and time.monotonic() < deadline:
            time.sleep(0.2)
        self._stop.set()
        self._thread.join()
        self.take()


class EventsProbe:
    """Reads the api's outbox and inbox, and talks to the broker for the baselines."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            run.bed.mongo.url, socketTimeoutMS=60_000
        )
        self.db = self.client[API_DATABASE]
        self.queue = f"{run.bed.exchange}.bench-baseline"
        self.template: dict[str, Any] | None = None

    def close(self) -> None:
        self.client.close()

    def steady(self, rate: float) -> dict[str, Any]:
        """Post duties at `rate`/s; latencies outbox -> relay -> consumer.

        Events not processed within SETTLE_S of the end count as infinitely late; what is still
        pending then is deleted, so later scenarios do not run beside a relay still draining.
        """
        s, run = self.run.settings, self.run
        post = Request(
            "POST",
            f"{run.instance_url('api')}/api/duties",
            run.bearer(run.admin) | {"Content-Type": "application/json"},
            _json(duty_body()),
        )
        with SentEntries(self.db) as sent:
            report, cpu = run.open_loop(post, rate, duration_s=s.events_s, warmup_s=0)
        posted = report.statuses.get("201", 0)
        entries = [e for e in sent.stamps.values() if e["routing_key"] == EVENT]
        ids = [entry["event_id"] for entry in entries]
        processed = {d["_id"]: d["processed_at"] for d in _wait_processed(self.db, ids, SETTLE_S)}
        discarded = self.db.outbox.delete_many({"sent_at": None}).deleted_count
        to_consumer = [
            _ms(processed[e["event_id"]], e["created_at"])
            for e in entries
            if e["event_id"] in processed
        ]
        to_consumer += [math.inf] * max(0, posted - len(to_consumer))
        if entries:
            self.template = entries[0]
        to_consumer_ms = _percentiles(to_consumer)
        result = {
            "rate": rate,
            "posted": report.statuses,
            "sent": len(entries),
            "processed": len(processed),
            "discarded_pending": discarded,
            "outbox_to_consumer_ms": to_consumer_ms,
            "outbox_to_broker_ms": _percentiles(
                [_ms(e["sent_at"], e["created_at"]) for e in entries]
            ),
            "post_latency_ms": report.latency_ms,
            **cpu.to_json(),
        }
        run.say(
            f"P6 {posted} events at {rate:.0f}/s: outbox→consumer "
            f"p50 {to_consumer_ms['p50']} ms, "
            f"p95 {to_consumer_ms['p95']} ms ({len(processed)} processed within "
            f"{SETTLE_S:g} s, {discarded} still pending discarded); busiest {cpu.busiest()}"
        )
        return result

    def backlog(self, count: int) -> dict[str, Any]:
        """Put `count` pending copies of a real entry in the outbox; relay and consumer rates."""
        if self.template is None:
            raise RuntimeError("no duty.posted entry to copy: the steady run sent none")
        entries = [_fresh_copy(self.template) for _ in range(count)]
        ids = [entry["event_id"] for entry in entries]
        with SentEntries(self.db) as sent:
            self.db.outbox.insert_many(entries)
        stamps = sorted(sent.stamps[i]["sent_at"] for i in ids if i in sent.stamps)
        processed = sorted(d["processed_at"] for d in _wait_processed(self.db, ids, SETTLE_S))
        result = {
            "entries": count,
            "sent": len(stamps),
            "processed": len(processed),
            "relay_per_s": _rate(stamps),
            "consumer_per_s": _rate(processed),
        }
        self.run.say(
            f"P6 backlog of {count}: relay {result['relay_per_s']:.0f}/s, "
            f"consumer {result['consumer_per_s']:.0f}/s"
        )
        return result

    async def broker_baseline(self, rate: float, duration_s: float, count: int) -> dict[str, Any]:
        """Publish -> consume latency at `rate` and one-at-a-time confirmed publishes/s."""
        body = _json((self.template or {}).get("event", {}))
        connection = await aio_pika.connect_robust(self.run.bed.amqp_url, timeout=30)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(self.run.bed.exchange, ensure=False)
            queue = await channel.declare_queue(
                self.queue, durable=True, arguments={"x-queue-type": "quorum"}
            )
            await queue.bind(exchange, BASELINE_KEY)
            try:
                latencies = await _publish_consume(exchange, queue, body, rate, duration_s)
                started = time.monotonic()
                for _ in range(count):
                    await exchange.publish(
                        aio_pika.Message(body, delivery_mode=2), BASELINE_KEY, mandatory=True
                    )
                publish_rate = count / (time.monotonic() - started)
                await queue.purge()
            finally:
                await queue.delete(if_unused=False, if_empty=False)
        publish_consume_ms = _percentiles(latencies)
        result = {
            "publish_consume_ms": publish_consume_ms,
            "confirmed_publish_per_s": publish_rate,
        }
        self.run.say(
            f"P6 broker alone: publish→consume p95 {publish_consume_ms['p95']} ms, "
            f"{publish_rate:.0f} confirmed publishes/s"
        )
        return result


def _json(value: Any) -> bytes:
    return json.dumps(value, default=str).encode()


def _rate(stamps: list[datetime]) -> float:
    """Items per second after the first stamp: the relay marks a whole batch with one stamp,
    so the items of the first stamp are the start line, not part of the span."""
    later = [stamp for stamp in stamps if stamp > stamps[0]] if stamps else []
    if not later:
        return float("nan")
    return len(later) / (stamps[-1] - stamps[0]).total_seconds()


def _fresh_copy(template: dict[str, Any]) -> dict[str, Any]:
    entry = copy.deepcopy(template)
    event_id = str(uuid.uuid4())
    entry["event"]["id"] = event_id
    entry.update(
        _id=ObjectId(),
        event_id=event_id,
        created_at=datetime.now(UTC),
        lease_until=EPOCH,
        lease_owner=None,
        attempts=0,
        sent_at=None,
        last_error=None,
    )
    return entry


async def _publish_consume(
    exchange: aio_pika.abc.AbstractExchange,
    queue: aio_pika.abc.AbstractQueue,
    body: bytes,
    rate: float,
    duration_s: float,
) -> list[float]:
    latencies: list[float] = []
    count = round(rate * duration_s)
    all_in = asyncio.Event()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            # A string: AMQP field tables would carry a float as 32 bits (minutes off).
            due = float(str((message.headers or {}).get("due", "0")))
            latencies.append((time.time() - due) * 1000)
            if len(latencies) >= count:
                all_in.set()

    tag = await queue.consume(on_message)
    start = time.time() + 0.05
    tasks = []
    for i in range(count):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.time()))
        message = aio_pika.Message(body, delivery_mode=2, headers={"due": repr(due)})
        tasks.append(asyncio.create_task(exchange.publish(message, BASELINE_KEY, mandatory=True)))
    await asyncio.gather(*tasks)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_in.wait(), 30)
    await queue.cancel(tag)
    return latencies


def run_p6(run: Run) -> None:
    """Measure P6 and add its figures."""
    s = run.settings
    probe = EventsProbe(run)
    try:
        rounds = alternate(
            s.rounds,
            {
                "steady": lambda _: probe.steady(s.events_rate),
                "broker": lambda _: asyncio.run(
                    probe.broker_baseline(s.events_rate, s.events_s, s.relay_backlog)
                ),
            },
        )
        steady, broker = rounds["steady"], rounds["broker"]
        low = probe.steady(LOW_RATE)
        backlog = probe.backlog(s.relay_backlog)
        # The api process holds the handler, the outbox relay and the consumer.
        run.profile("P6", ("api-1", "mongo"), lambda: probe.steady(s.events_rate))
    finally:
        probe.close()
    note = "1 ms resolution; events unprocessed after 20 s count as infinite"
    for point, target in (("p50", None), ("p95", P6_P95_MS)):
        run.add(
            Figure(
                key=f"P6 event {point}",
                what=f"outbox→consumer {point} at {s.events_rate:.0f} events/s",
                unit="ms",
                values=[r["outbox_to_consumer_ms"][point] for r in steady],
                baseline="broker alone, publish→consume",
                baseline_values=[b["publish_consume_ms"][point] for b in broker],
                target=target,
                note=note,
            )
        )
    run.add(
        Figure(
            key="P6 event p95 low",
            what=f"outbox→consumer p95 at {LOW_RATE:.0f} events/s",
            unit="ms",
            values=[low["outbox_to_consumer_ms"]["p95"]],
            note=note,
        )
    )
    run.add(
        Figure(
            key="P6 relay",
            what=f"outbox relay throughput, backlog of {s.relay_backlog}",
            unit="events/s",
            values=[backlog["relay_per_s"]],
            baseline="confirmed publishes, one at a time",
            baseline_values=[broker[-1]["confirmed_publish_per_s"]],
            note="database-bound on SecantusDB: three operations per claimed batch",
        )
    )
    run.add(
        Figure(
            key="P6 consumer",
            what="api consumer throughput on the same backlog",
            unit="events/s",
            values=[backlog["consumer_per_s"]],
        )
    )
    run.details["P6"] = {"steady": steady, "low_rate": low, "broker": broker, "backlog": backlog}
