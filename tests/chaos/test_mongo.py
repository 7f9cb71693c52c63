"""MongoDB stopped, and paused (SIGSTOP: it accepts connections and answers nothing), under
steady load through the gateway.

While it is gone, requests that need it answer 503 problem+json with `Retry-After` within the
client's time limit (no hang, no 500), the health route keeps answering 200, and readiness is
503; an event arriving meanwhile waits for it (not dead-lettered). When it is back everything
works again without a restart: readiness 200, writes again within seconds (the transactions
the outage left open are aborted, not left for the server to reap 60 s later), then every
request 2xx, every posting that succeeded stored once with its `duty.posted` event published
exactly once, the waiting event applied once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import aio_pika
import pytest
from polling import eventually
from pymongo import AsyncMongoClient

from chaos.checks import (
    created_ids,
    postings_recovered,
    stored_duties,
    wait_readiness,
    written_once,
)
from chaos.driver import SteadyLoad, standard_mix
from chaos.events import tapping
from chaos.report import record
from chaos.servers import RestartableMongo, instances_of
from nocturnal.shared.events import EventPublisher, ExchangeSpec, new_event
from tools.devstack import Stack

# Each runs an outage of OUTAGE_S and waits for a recovery of WRITABLE_WITHIN_S at most.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# An outage must outlast the services' MongoDB operation timeout (10 s) to show its 503s: a
# shorter one only delays the requests sent during it (they wait for the server and succeed).
OUTAGE_S = {"stopped": 12.0, "paused": 12.0}
# The services abort the transactions the outage cut off once the server answers again
# (`nocturnal.shared.mongo_sessions`): the poster writes again within this many seconds of the
# repair, where the server's own reaping (`transactionLifetimeLimitSeconds`) would take 60 s.
WRITABLE_WITHIN_S = 30.0


async def publish_registration(amqp_url: str, exchange: str) -> str:
    """Publish a `user.registered` (as auth would); return its user id."""
    user_id = f"chaos-{secrets.token_hex(6)}"
    data = {"user_id": user_id, "email": f"{user_id}@example.com", "name": "Noor", "role": "nurse"}
    connection = await aio_pika.connect_robust(amqp_url, timeout=10)
    async with connection, EventPublisher(connection, ExchangeSpec(exchange)) as publisher:
        await publisher.publish_confirmed(new_event("user.registered", data, service="auth"))
    return user_id


async def profiles_of(mongo_url: str, user_id: str) -> int:
    """How many api profiles `user_id` has."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url)
    try:
        return await client["nocturnal_api"]["profiles"].count_documents({"_id": user_id})
    finally:
        await client.close()


@pytest.mark.parametrize("outage", ["stopped", "paused"])
async def test_mongo_outage_under_load(
    outage: str,
    chaos_stack: Stack,
    chaos_mongo: RestartableMongo,
    admin_token: str,
    amqp_url: str,
) -> None:
    api_urls = [i.url for i in instances_of(chaos_stack, "api")]
    exchange = chaos_stack.settings.events_exchange
    break_, repair = {
        "stopped": (chaos_mongo.stop, chaos_mongo.start),
        "paused": (chaos_mongo.pause, chaos_mongo.resume),
    }[outage]
    load = SteadyLoad(chaos_stack.base_url, standard_mix(admin_token))
    async with tapping(amqp_url, exchange, ["duty.posted"]) as tap:
        async with load.running():
            await load.settle(3.0)
            load.phase = "during"
            await _outage(break_, repair, api_urls)
            user_id = await publish_registration(amqp_url, exchange)
            await load.settle(OUTAGE_S[outage])
            repair()
            repaired_at = time.monotonic()
            await wait_readiness(api_urls, 200)
            # The transactions the outage cut off (a paused server runs what it queued once it
            # resumes) are aborted on the server once it answers, not reaped 60 s later.
            await load.wait_for(
                postings_recovered(load),
                "postings succeeding",
                within_s=max(1.0, repaired_at + WRITABLE_WITHIN_S - time.monotonic()),
            )
            print(f"postings succeed again {time.monotonic() - repaired_at:.1f} s after the repair")
            load.phase = "after"
            await load.settle(4.0)
        stored = await stored_duties(chaos_mongo.url, load.tag)
        ids = [duty_id for ids in stored.values() for duty_id in ids]
        await load.wait_for(
            lambda: all(tap.subjects[f"duties/{i}"] >= 1 for i in ids), "every duty.posted"
        )
    record(f"MongoDB {outage}", load)

    load.assert_only(allowed={503})
    health = load.statuses(o for o in load.outcomes if o.step == "health")
    assert set(health) == {"health 200"}, health
    unavailable = [o for o in load.in_phase("during") if o.status == 503]
    assert unavailable, "no request noticed the outage"
    after = [o for o in load.in_phase("after") if o.status is None or o.status >= 300]
    assert after == [], [o.describe() for o in after[:10]]
    assert written_once(load, stored) == []
    assert set(created_ids(load)) <= set(ids)
    twice = {s: n for s, n in tap.subjects.items() if n > 1}
    assert twice == {} and tap.duplicates == [], (twice, tap.duplicates)

    # Held while MongoDB was away (a retry delay of up to 30 s), applied once it is back.
    async def profile_made() -> bool:
        return await profiles_of(chaos_mongo.url, user_id) > 0

    await eventually(profile_made, "the waiting user.registered", within=60)
    assert await profiles_of(chaos_mongo.url, user_id) == 1


async def _outage(break_: Callable[[], None], repair: Callable[[], None], urls: list[str]) -> None:
    """Break MongoDB and wait until every api instance's readiness says so (503)."""
    break_()
    try:
        await wait_readiness(urls, 503, within_s=30.0)
    except BaseException:
        repair()
        raise
