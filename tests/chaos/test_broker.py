"""RabbitMQ restarted mid-flow (`rabbitmqctl stop_app` / `start_app`, the only fault of this
suite on a shared server) under steady load, with registrations whose `user.registered` event
auth publishes and api consumes.

Clients see nothing (requests do not need the broker: events wait in the outbox), every event
is published once and takes effect once when the broker is back, and each service instance
logs the outage in two lines (lost, restored), not the client library's tracebacks.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from polling import eventually
from pymongo import AsyncMongoClient

from chaos.checks import stored_duties, written_once
from chaos.driver import SteadyLoad, register, standard_mix
from chaos.events import tapping
from chaos.report import record
from tools.devstack import Stack, amqp_answers, wait_until

# Each waits for a recovery bounded by the servers (a 60 s transaction lifetime at most).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BROKER_DOWN_S = 4.0


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


async def restart_broker(amqp_url: str) -> None:
    """Stop and start the RabbitMQ application (the node stays up); wait until it answers."""
    await asyncio.to_thread(rabbitmqctl, "stop_app")
    try:
        await asyncio.sleep(BROKER_DOWN_S)
    finally:
        await asyncio.to_thread(rabbitmqctl, "start_app")
    await asyncio.to_thread(wait_until, lambda: amqp_answers(amqp_url), "RabbitMQ", 120.0)


async def registering(base_url: str, user_ids: list[str], stop: asyncio.Event) -> None:
    """Register a nurse every 0.5 s until `stop`; keep the ids of the accounts created."""
    while not stop.is_set():
        try:
            _, body = await register(base_url, role="nurse")
            user_ids.append(body["id"])
        except (AssertionError, aiohttp.ClientError) as exc:
            raise AssertionError(f"a registration failed during the broker restart: {exc}") from exc
        await asyncio.sleep(0.5)


async def profile_counts(mongo_url: str, user_ids: list[str]) -> dict[str, int]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url)
    try:
        profiles = client["nocturnal_api"]["profiles"]
        return {uid: await profiles.count_documents({"_id": uid}) for uid in user_ids}
    finally:
        await client.close()


def broker_lines(log: Path, since: int) -> list[str]:
    """The lines of `log` from byte `since` about the broker connection or its client library."""
    with log.open("rb") as lines:
        lines.seek(since)
        text = lines.read().decode(errors="replace")
    markers = ("broker connection", "aiormq", "aio_pika", "Traceback")
    return [line for line in text.splitlines() if any(m in line for m in markers)]


async def test_broker_restart_mid_flow(chaos_stack: Stack, admin_token: str, amqp_url: str) -> None:
    exchange = chaos_stack.settings.events_exchange
    mongo_url = chaos_stack.servers[0].url
    logs = {i.name: i.child.log_path for i in chaos_stack.instances}
    offsets = {name: path.stat().st_size for name, path in logs.items()}
    load = SteadyLoad(chaos_stack.base_url, standard_mix(admin_token))
    user_ids: list[str] = []
    stop = asyncio.Event()
    async with tapping(amqp_url, exchange, ["duty.posted", "user.registered"]) as tap:
        async with load.running():
            registrations = asyncio.create_task(registering(chaos_stack.base_url, user_ids, stop))
            await load.settle(3.0)
            load.phase = "during"
            await restart_broker(amqp_url)
            load.phase = "after"
            await load.settle(4.0)
            stop.set()
            await registrations
        stored = await stored_duties(mongo_url, load.tag)
        duty_ids = [duty_id for ids in stored.values() for duty_id in ids]
        expected = [f"duties/{i}" for i in duty_ids] + user_ids
        await load.wait_for(
            lambda: all(tap.subjects[s] >= 1 for s in expected), "every event", within_s=120
        )
        await asyncio.sleep(2.0)  # time for a second copy to show, if one were coming

        async def all_profiles() -> bool:
            return set((await profile_counts(mongo_url, user_ids)).values()) <= {1}

        await eventually(all_profiles, "a profile for every registration", within=120)
    record("RabbitMQ restart", load)

    load.assert_only()
    assert written_once(load, stored) == []
    twice = {s: n for s, n in tap.subjects.items() if n > 1}
    assert twice == {} and tap.duplicates == [], (twice, tap.duplicates)
    assert set((await profile_counts(mongo_url, user_ids)).values()) == {1}
    for name, path in logs.items():
        lines = broker_lines(path, offsets[name])
        lost = [line for line in lines if "broker connection lost" in line]
        restored = [line for line in lines if "broker connection restored" in line]
        assert (len(lost), len(restored), len(lines)) == (1, 1, 2), (name, json.dumps(lines)[:3000])
