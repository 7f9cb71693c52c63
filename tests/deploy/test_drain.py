"""Graceful shutdown of real service processes: an api instance drained under load behind the
local gateway, and an event handler finishing its message after SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest
from pymongo import AsyncMongoClient
from redis_databases import private_redis_database

from nocturnal.shared.events import EventPublisher, ExchangeSpec, new_event, service_queue
from tools.devstack import (
    Child,
    Instance,
    Server,
    Stack,
    StackSettings,
    delete_event_topology,
    free_ports,
    http_ok,
    new_exchange_name,
    private_event_exchange,
    start_secantus,
    wait_until,
)

pytestmark = pytest.mark.integration

# Short, so the tests take seconds; the production numbers are checked in test_timings.py.
DRAIN_S = 3.0
SHUTDOWN_TIMEOUT_S = 10.0
# A process ends within drain + shutdown; this much more for the interpreter to exit.
EXIT_SLACK_S = 2.0
SHUTDOWN_ENV = {"SHUTDOWN_DRAIN_S": str(DRAIN_S), "SHUTDOWN_TIMEOUT_S": str(SHUTDOWN_TIMEOUT_S)}
# The drain load makes hundreds of requests from one address: production limits would 429 it.
LOOSE_LIMITS = json.dumps(
    {name: {"window_s": 60, "normal": 10_000, "strict": 10_000} for name in ("auth", "api")}
)
LOAD_WORKERS = 6


@pytest.fixture(scope="module")
def drain_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: str, amqp_url: str
) -> Iterator[Stack]:
    """Every service behind the gateway, api twice, with short drain and shutdown times."""
    run_dir = tmp_path_factory.mktemp("drain-stack")
    with (
        private_redis_database(redis_server) as redis_url,
        private_event_exchange(amqp_url, "test-drain") as events_exchange,
    ):
        settings = StackSettings(
            instances={"auth": 1, "api": 2, "upload": 1, "ratelimit": 1},
            gateway_port=0,
            public_host="127.0.0.1",
            run_dir=run_dir,
            mongo_storage=":memory:",
            redis_url=redis_url,
            amqp_url=amqp_url,
            events_exchange=events_exchange,
            extra_env={**SHUTDOWN_ENV, "RATELIMIT_POLICIES": LOOSE_LIMITS},
        )
        with Stack(settings) as stack:
            yield stack


# --- load through the gateway ---------------------------------------------------------------


@dataclass
class Load:
    """Mixed reads and writes from a few concurrent clients until stopped, every outcome kept."""

    base_url: str
    token: str
    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    instances: Counter[str] = field(default_factory=Counter)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    async def run(self, workers: int) -> None:
        # A connection per request: nginx's reload (how the local gateway follows readiness)
        # closes its idle client connections, a race a keep-alive client would see that no
        # Kubernetes gateway has; the upstream side, which this test is about, keeps alive.
        connector = aiohttp.TCPConnector(force_close=True, limit=workers)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await asyncio.gather(*(self._worker(session, n) for n in range(workers)))

    async def _worker(self, session: aiohttp.ClientSession, number: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        steps = [self._health, self._list_duties, self._post_duty]
        turn = number
        while not self.stopping.is_set():
            await steps[turn % len(steps)](session, headers)
            turn += 1

    async def _health(self, session: aiohttp.ClientSession, _: dict[str, str]) -> None:
        body = await self._call(session, "GET", "/api/health", 200)
        if body is not None:
            self.instances[body["instance"]] += 1

    async def _list_duties(self, session: aiohttp.ClientSession, headers: dict[str, str]) -> None:
        await self._call(session, "GET", "/api/duties?limit=5", 200, headers=headers)

    async def _post_duty(self, session: aiohttp.ClientSession, headers: dict[str, str]) -> None:
        await self._call(session, "POST", "/api/duties", 201, headers=headers, json=duty())

    async def _call(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        expected: int,
        **options: Any,
    ) -> Any:
        label = f"{method} {path.split('?')[0]}"
        try:
            async with session.request(method, self.base_url + path, **options) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.statuses[f"{label} error"] += 1
            self.failures.append(f"{label}: {exc!r}")
            return None
        self.statuses[f"{label} {response.status}"] += 1
        if response.status != expected:
            self.failures.append(f"{label}: {response.status} {body[:300]!r}")
            return None
        return json.loads(body)


def duty() -> dict[str, Any]:
    return {
        "title": "Night cover",
        "hospital_name": "St Mary's General Hospital",
        "department": "Emergency",
        "specialty": "Emergency Medicine",
        "description": "Written while an instance drains.",
        "date": (date.today() + timedelta(days=7)).isoformat(),
        "start_time": "22:00",
        "end_time": "06:00",
        "hourly_rate": 80,
        "positions_needed": 1,
        "urgency": "NORMAL",
        "location": "Leeds",
        "requirements": {"minimum_experience": 1, "required_skills": []},
    }


async def register_admin(base_url: str) -> str:
    body = {
        "email": f"drain.{secrets.token_hex(4)}@example.com",
        "password": secrets.token_urlsafe(18),
        "name": "Ada Admin",
        "role": "hospital_admin",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base_url}/api/auth/register", json=body) as response,
    ):
        assert response.status == 201, await response.text()
        token: str = (await response.json())["access_token"]
        return token


async def wait_for(condition: Any, what: str, within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {within_s:.0f} s"
        await asyncio.sleep(0.05)


@dataclass
class Termination:
    """What a SIGTERMed process did: readiness answers while alive, exit code and time."""

    readiness: Counter[int] = field(default_factory=Counter)
    exit_code: int | None = None
    exit_s: float = 0.0


async def terminate_and_watch(child: Child, ready_url: str) -> Termination:
    """SIGTERM `child`, poll its readiness until it exits, time the exit."""
    seen = Termination()
    started = time.monotonic()
    child.proc.send_signal(signal.SIGTERM)
    timeout = aiohttp.ClientTimeout(total=1)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while child.proc.poll() is None:
            assert time.monotonic() - started < 60, f"{child.name} did not exit within 60 s"
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(ready_url) as response:
                    seen.readiness[response.status] += 1
            await asyncio.sleep(0.05)
    seen.exit_s = time.monotonic() - started
    seen.exit_code = child.proc.returncode
    return seen


# --- the tests ------------------------------------------------------------------------------


async def test_draining_api_instance_fails_no_client_request(drain_stack: Stack) -> None:
    api = [instance for instance in drain_stack.instances if instance.service == "api"]
    assert len(api) == 2
    leaving, staying = api
    load = Load(drain_stack.base_url, await register_admin(drain_stack.base_url))
    running = asyncio.create_task(load.run(LOAD_WORKERS))
    try:
        # Both instances serve before one leaves: the load really is spread.
        await wait_for(lambda: len(load.instances) == 2 and load.sent >= 60, "load on both")
        before_sigterm = load.sent
        seen = await terminate_and_watch(leaving.child, f"{leaving.url}/health/ready")
        at_exit = load.sent
        await wait_for(lambda: load.sent >= at_exit + 30, "load after the exit")
    finally:
        load.stopping.set()
        await running

    report = (
        f"{load.sent} requests ({before_sigterm} before SIGTERM, {at_exit - before_sigterm} "
        f"while {leaving.name} drained), {len(load.failures)} failed; {leaving.name} exited "
        f"{seen.exit_code} after {seen.exit_s:.2f} s; readiness answers {dict(seen.readiness)}; "
        f"by instance {dict(load.instances)}; by route {dict(load.statuses)}"
    )
    print(f"\ndrain: {report}")
    assert load.failures == [], report
    assert seen.exit_code == 0, report
    assert seen.readiness[503] > 0, report  # readiness said "draining" while it still ran
    assert seen.exit_s <= DRAIN_S + SHUTDOWN_TIMEOUT_S + EXIT_SLACK_S, report
    assert staying.child.alive


# --- an event handler in flight at SIGTERM --------------------------------------------------


@pytest.fixture
def pausable_mongo(tmp_path: Path) -> Iterator[Server]:
    """A SecantusDB of this test alone, which the test may stop (SIGSTOP) and resume."""
    server = start_secantus(":memory:", tmp_path / "mongo.log")
    assert server.child is not None
    try:
        yield server
    finally:
        server.child.proc.send_signal(signal.SIGCONT)
        server.stop()


@pytest.fixture
async def lone_api(
    drain_stack: Stack, pausable_mongo: Server, amqp_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Instance, str]]:
    """One more api process on the paused-able MongoDB and an events exchange of its own, so
    it alone consumes what the test publishes. Yields it and that exchange."""
    exchange = new_exchange_name("test-drain-consumer")
    port = free_ports(1)[0]
    env = drain_stack.service_env("api", "api-consumer", port)
    env |= {"MONGO_URL": pausable_mongo.url, "EVENTS_EXCHANGE": exchange}
    argv = [sys.executable, "-m", "nocturnal.api"]
    child = Child.spawn("api-consumer", argv, tmp_path / "api-consumer.log", env)
    instance = Instance("api", "api-consumer", port, child)
    try:
        ready = lambda: http_ok(f"{instance.url}/health/ready")  # noqa: E731
        await asyncio.to_thread(wait_until, ready, "api-consumer", 60.0, child)
        yield instance, exchange
    finally:
        if child.alive:
            child.signal_group(signal.SIGKILL)
            child.proc.wait()
        await delete_event_topology(amqp_url, exchange)


async def ready_messages(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


async def test_event_in_flight_at_sigterm_is_handled_once_not_lost(
    lone_api: tuple[Instance, str], pausable_mongo: Server, amqp_url: str
) -> None:
    api, exchange = lone_api
    queue = service_queue(ExchangeSpec(exchange), "api", ["user.registered"]).name
    mongo = pausable_mongo.child
    assert mongo is not None
    user_id = f"drain-{secrets.token_hex(6)}"
    event = new_event(
        "user.registered",
        {"user_id": user_id, "email": f"{user_id}@example.com", "name": "Noor", "role": "nurse"},
        service="auth",
    )

    # MongoDB stops answering, so the handler is stuck mid-message when SIGTERM arrives.
    mongo.proc.send_signal(signal.SIGSTOP)
    try:
        connection = await aio_pika.connect_robust(amqp_url, timeout=10)
        async with connection, EventPublisher(connection, ExchangeSpec(exchange)) as publisher:
            await publisher.publish_confirmed(event)
        deadline = time.monotonic() + 30
        while await ready_messages(amqp_url, queue) > 0:  # delivered: in the handler's hands
            assert time.monotonic() < deadline, "api-consumer never took the message"
            await asyncio.sleep(0.1)
        watching = asyncio.create_task(terminate_and_watch(api.child, f"{api.url}/health/ready"))
        await asyncio.sleep(DRAIN_S + 1.0)  # past the drain: the shutdown waits for the handler
        assert api.child.alive, "api-consumer exited with a handler still waiting for MongoDB"
    finally:
        mongo.proc.send_signal(signal.SIGCONT)
    seen = await watching

    client: AsyncMongoClient[Any] = AsyncMongoClient(pausable_mongo.url)
    try:
        db = client["nocturnal_api"]
        profiles = await db["profiles"].count_documents({"_id": user_id})
        inbox = await db["inbox"].count_documents({"_id": event.id})
    finally:
        await client.close()
    left = await ready_messages(amqp_url, queue)
    report = (
        f"exit {seen.exit_code} after {seen.exit_s:.2f} s; profiles {profiles}, inbox {inbox}, "
        f"messages left {left}; log:\n{api.child.tail(15)}"
    )
    print(f"\nconsumer drain: {report}")
    assert (profiles, inbox, left) == (1, 1, 0), report  # handled once, acked, not requeued
    assert seen.exit_code == 0, report
    assert seen.exit_s <= DRAIN_S + SHUTDOWN_TIMEOUT_S + EXIT_SLACK_S, report
