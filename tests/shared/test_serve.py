"""Graceful shutdown of a real service process: SIGTERM drains with readiness 503, SIGINT does
not drain, in-flight requests finish, and nothing outlives SHUTDOWN_TIMEOUT_S."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tools.devstack import free_ports

BARE_SERVICE = Path(__file__).parent / "serving" / "bare_service.py"
EXIT_SLACK_S = 2.0  # interpreter start-up and exit around the configured times

Start = Callable[..., Awaitable["Service"]]


class Service:
    """The bare service in its own process, on a port of its own."""

    def __init__(self, drain_s: float, timeout_s: float) -> None:
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, str(BARE_SERVICE), str(self.port), str(drain_s), str(timeout_s)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.signalled_at = 0.0

    async def ready(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                async with session.get(f"{self.url}/health/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"not ready in 30 s: {self.output()}")

    def signal(self, signum: int) -> None:
        self.signalled_at = time.monotonic()
        self.proc.send_signal(signum)

    async def exit_after(self) -> tuple[int, float]:
        """Wait for the exit: (exit code, seconds since the signal)."""
        code = await asyncio.to_thread(self.proc.wait, 60)
        return code, time.monotonic() - self.signalled_at

    def output(self) -> str:
        if self.proc.poll() is None:
            return "(running)"
        assert self.proc.stdout is not None
        return self.proc.stdout.read().decode(errors="replace")[-3000:]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client:
        yield client


@pytest.fixture
async def start(session: aiohttp.ClientSession) -> AsyncIterator[Start]:
    started: list[Service] = []

    async def start_service(*, drain_s: float, timeout_s: float = 10.0) -> Service:
        service = Service(drain_s, timeout_s)
        started.append(service)
        await service.ready(session)
        return service

    yield start_service
    for service in started:
        if service.proc.poll() is None:
            service.proc.kill()
            service.proc.wait()


async def test_sigterm_turns_readiness_503_and_keeps_serving_for_the_drain(
    start: Start, session: aiohttp.ClientSession
) -> None:
    service = await start(drain_s=2.0)

    service.signal(signal.SIGTERM)
    await asyncio.sleep(0.3)
    async with session.get(f"{service.url}/health/ready") as ready:
        body = await ready.json()
    async with session.get(f"{service.url}/slow") as served:
        connection = served.headers.get("Connection")
    code, seconds = await service.exit_after()

    assert (ready.status, body["status"]) == (503, "draining")
    assert ready.headers.get("Connection") == "close"  # gateways must not reuse it
    assert (served.status, connection) == (200, "close")
    assert code == 0, service.output()
    assert 2.0 <= seconds <= 2.0 + 10.0 + EXIT_SLACK_S


async def test_sigint_skips_the_drain(start: Start) -> None:
    service = await start(drain_s=30.0)

    service.signal(signal.SIGINT)
    code, seconds = await service.exit_after()

    assert code == 0, service.output()
    assert seconds < 30.0


async def test_a_second_sigterm_ends_the_drain(start: Start) -> None:
    service = await start(drain_s=30.0)

    service.signal(signal.SIGTERM)
    await asyncio.sleep(0.5)
    service.proc.send_signal(signal.SIGTERM)
    code, seconds = await service.exit_after()

    assert code == 0, service.output()
    assert seconds < 30.0


async def test_in_flight_request_finishes_after_the_listener_closes(
    start: Start, session: aiohttp.ClientSession
) -> None:
    service = await start(drain_s=0.5, timeout_s=20.0)  # handlers get 5 s before a cancel
    in_flight = asyncio.create_task(session.get(f"{service.url}/slow?s=3"))
    await asyncio.sleep(0.5)  # the request is in the handler

    service.signal(signal.SIGTERM)
    response = await in_flight
    code, seconds = await service.exit_after()

    assert response.status == 200
    assert await response.json() == {"slept": True}
    response.release()
    assert code == 0, service.output()
    assert seconds <= 0.5 + 20.0 + EXIT_SLACK_S


async def test_a_request_that_never_finishes_is_cut_off_within_the_timeout(
    start: Start, session: aiohttp.ClientSession
) -> None:
    service = await start(drain_s=0.5, timeout_s=2.0)
    stuck = asyncio.create_task(session.get(f"{service.url}/slow?s=60"))
    await asyncio.sleep(0.5)

    service.signal(signal.SIGTERM)
    code, seconds = await service.exit_after()

    assert code == 0, service.output()
    assert seconds <= 0.5 + 2.0 + EXIT_SLACK_S
    with pytest.raises(aiohttp.ClientError):
        await stuck


async def test_a_burst_of_connections_queues_for_the_service_instead_of_being_dropped(
    start: Start,
) -> None:
    # Found by a fresh-user trial: 600 concurrent logins through the gateway got 504s, the
    # connects timing out on a full accept queue (aiohttp's default of 128) before the
    # service could shed with 503. The listening socket's queue is what `ss` calls Send-Q.
    from nocturnal.shared.http.app import LISTEN_BACKLOG

    service = await start(drain_s=0.0)
    ss = await asyncio.create_subprocess_exec(
        "ss", "-Hltn", f"sport = :{service.port}", stdout=subprocess.PIPE
    )
    listening = (await ss.communicate())[0].decode().split()
    somaxconn = int(await asyncio.to_thread(Path("/proc/sys/net/core/somaxconn").read_text))
    assert int(listening[2]) == min(LISTEN_BACKLOG, somaxconn) >= 1024


async def test_a_started_service_has_frozen_its_start_up_objects_and_observes_gc_pauses(
    start: Start, session: aiohttp.ClientSession
) -> None:
    service = await start(drain_s=0.0)

    async with session.post(f"{service.url}/gc") as collected:  # a full collection in there
        objects = await collected.json()
    async with session.get(f"{service.url}/metrics") as scraped:
        families = {f.name: f for f in text_string_to_metric_families(await scraped.text())}

    # The start-up's objects left the collector's scans: what a full collection still scans
    # is what serving has made since, a small part of them.
    assert objects["frozen"] > 10 * objects["tracked"], objects
    full = {
        sample.name: sample.value
        for sample in families["python_gc_pause_seconds"].samples
        if sample.labels.get("generation") == "2"
    }
    assert full["python_gc_pause_seconds_count"] >= 1
    assert full["python_gc_pause_seconds_sum"] > 0
