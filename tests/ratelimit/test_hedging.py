"""Hedged checks: a caller waits for the ratelimit service at most a deadline from its observed
latency (RFC 6298's estimator), then decides from the degraded local window (issue 10, item 2).

The hang is real: a ratelimit process of this module's own, stopped with SIGSTOP (its sockets
stay open and nothing answers) and continued with SIGCONT.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from polling import eventually
from prometheus_client import REGISTRY

from nocturnal.shared.breaker import BreakerState
from nocturnal.shared.ratelimit.client import RateLimitClient
from nocturnal.shared.ratelimit.hedge import HedgeDeadline
from nocturnal.shared.ratelimit.instances import LiveInstances
from nocturnal.shared.ratelimit.policies import DEFAULT_POLICIES, Decision, Policy, Tier
from tools.devstack.exchanges import private_event_exchange
from tools.devstack.instances import Instance
from tools.devstack.probes import free_ports
from tools.devstack.processes import stop_children, wait_until

POLICY = Policy(f"hedge-{uuid.uuid4().hex[:8]}", window_s=600, normal=10, strict=10)
TIMEOUT_S = 3.0  # long: a check decided before it was hedged, not timed out
FLOOR_S = 0.05


# The estimator alone (pure).


def test_before_any_answer_the_deadline_is_the_timeout() -> None:
    assert HedgeDeadline(floor_s=0.02, cap_s=0.25).seconds == 0.25


def test_the_first_answer_sets_srtt_and_half_of_it_as_rttvar() -> None:
    deadline = HedgeDeadline(floor_s=0.001, cap_s=1.0)
    deadline.sample(0.01)
    assert (deadline.srtt, deadline.rttvar) == (0.01, 0.005)
    assert deadline.seconds == pytest.approx(0.01 + 4 * 0.005)


def test_later_answers_follow_rfc_6298_gains() -> None:
    deadline = HedgeDeadline(floor_s=0.001, cap_s=1.0)
    deadline.sample(0.01)
    deadline.sample(0.03)
    # RTTVAR first, from the old SRTT: 3/4 * 0.005 + 1/4 * |0.01 - 0.03|; then SRTT.
    assert deadline.rttvar == pytest.approx(0.75 * 0.005 + 0.25 * 0.02)
    assert deadline.srtt == pytest.approx(0.875 * 0.01 + 0.125 * 0.03)
    assert deadline.seconds == pytest.approx(deadline.srtt + 4 * deadline.rttvar)


def test_the_deadline_stays_between_the_floor_and_the_timeout() -> None:
    deadline = HedgeDeadline(floor_s=0.02, cap_s=0.25)
    for _ in range(50):
        deadline.sample(0.001)
    assert deadline.seconds == 0.02
    for _ in range(50):
        deadline.sample(2.0)
    assert deadline.seconds == 0.25


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError):
        HedgeDeadline(floor_s=0, cap_s=0.25)


# Against a real ratelimit process.


@pytest.fixture(scope="module")
def service(
    redis_url: str, amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Instance]:
    """A ratelimit process of this module's own, knowing `POLICY`."""
    port = free_ports(1)[0]
    policies = {POLICY.name: {"window_s": POLICY.window_s, "normal": POLICY.normal, "strict": 10}}
    with private_event_exchange(amqp_url, "test-hedge") as exchange:
        env = {
            **os.environ,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "INSTANCE_NAME": "ratelimit-hedge",
            "NOCTURNAL_ENV": "development",
            "REDIS_URL": redis_url,
            "AMQP_URL": amqp_url,
            "EVENTS_EXCHANGE": exchange,
            "RATELIMIT_POLICIES": json.dumps(policies),
        }
        instance = Instance.spawn(
            "ratelimit", "ratelimit-hedge", port, env, tmp_path_factory.mktemp("hedge")
        )
        try:
            wait_until(lambda: _answers(instance.url), "ratelimit", 60.0, instance.child)
            yield instance
        finally:
            instance.child.signal_group(signal.SIGCONT)
            stop_children([instance.child])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/live", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
async def client(service: Instance) -> AsyncIterator[RateLimitClient]:
    """A caller of two instances (degraded allowance: 5 of 10), warmed up: the estimator has
    samples, so its deadline is near the floor."""
    async with aiohttp.ClientSession() as session:
        client = RateLimitClient(
            session,
            service.url,
            service=f"t-hedge-{secrets.token_hex(3)}",
            timeout_s=TIMEOUT_S,
            instances=LiveInstances(None, configured=2),
            lease_ms=0,
            hedge_floor_s=FLOOR_S,
        )
        await client.refresh()
        for _ in range(20):
            assert not (await client.check(POLICY.name, "192.0.2.1", user_id=_user())).degraded
        assert client.deadline.seconds < TIMEOUT_S
        yield client
        await client.close()


@pytest.fixture
def stopped(service: Instance) -> Iterator[Instance]:
    service.child.signal_group(signal.SIGSTOP)
    try:
        yield service
    finally:
        service.child.signal_group(signal.SIGCONT)


def _user() -> str:
    return secrets.token_hex(6)


def _count(name: str, service: str) -> float:
    value = REGISTRY.get_sample_value(name, {"service": service, "policy": POLICY.name})
    return value or 0.0


async def test_checks_of_a_hanging_service_are_decided_locally_within_the_allowance(
    client: RateLimitClient, stopped: Instance
) -> None:
    name = client._service
    user = _user()
    loop = asyncio.get_running_loop()
    started = loop.time()
    decisions = [await client.check(POLICY.name, "192.0.2.2", user_id=user) for _ in range(8)]
    took = loop.time() - started
    # Each would have waited its 3 s timeout: the first waited its deadline, the next none.
    assert took < TIMEOUT_S
    assert all(d.degraded for d in decisions)
    # One local window, this instance's share of it: ceil(10 / 2) = 5, whatever the service saw.
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
    assert _count("ratelimit_hedged_decisions_total", name) == 8
    assert _count("ratelimit_degraded_decisions_total", name) == 0
    assert client.breaker.state is BreakerState.CLOSED  # the calls have not timed out yet


async def test_after_sigcont_checks_are_the_services_again(
    client: RateLimitClient, service: Instance
) -> None:
    service.child.signal_group(signal.SIGSTOP)
    try:
        assert (await client.check(POLICY.name, "192.0.2.3", user_id=_user())).degraded
    finally:
        service.child.signal_group(signal.SIGCONT)

    async def from_service() -> bool:
        decision = await client.check(POLICY.name, "192.0.2.3", user_id=_user())
        return not decision.degraded

    await eventually(from_service, "a check decided by the service again")


async def test_close_cancels_the_calls_left_running(
    client: RateLimitClient, stopped: Instance
) -> None:
    assert (await client.check(POLICY.name, "192.0.2.4", user_id=_user())).degraded
    assert _remote_calls()  # the hedged check's call still waits for the stopped service
    await client.close()
    assert not _remote_calls()


def _remote_calls() -> list[asyncio.Task[object]]:
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done() and "RateLimitClient._remote" in repr(task.get_coro())
    ]


# The breaker opening wakes every waiting check (a fake service: one key fails, one hangs).


async def test_when_the_breaker_opens_every_waiting_check_decides_at_once() -> None:
    hanging = asyncio.Event()

    async def check(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("user_id") == "hangs":
            await hanging.wait()
        if body.get("user_id") == "fails":
            await asyncio.sleep(0.05)
            return web.json_response({"status": 503}, status=503)
        return web.json_response(_allowed())

    app = web.Application()
    app.router.add_post("/v1/check", check)
    service = f"t-open-{secrets.token_hex(3)}"
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        client = RateLimitClient(
            session,
            str(server.make_url("/")),
            service=service,
            timeout_s=5.0,
            lease_ms=0,
            hedge_floor_s=2.0,  # a hedged check would wait 2 s, then count as hedged
        )
        await client.check("api", "192.0.2.5", user_id="answers")  # a sample: deadline 2 s
        waiting = asyncio.create_task(client.check("api", "192.0.2.5", user_id="hangs"))
        await asyncio.sleep(0)
        failing = await client.check("api", "192.0.2.5", user_id="fails")
        decision = await waiting
        hanging.set()
        await client.close()
    assert failing.degraded and decision.degraded
    assert client.breaker.state is BreakerState.OPEN
    counts = {
        name: REGISTRY.get_sample_value(name, {"service": service, "policy": "api"}) or 0.0
        for name in ("ratelimit_hedged_decisions_total", "ratelimit_degraded_decisions_total")
    }
    # Both decided when the breaker opened: neither waited out its deadline (hedged).
    assert counts == {
        "ratelimit_hedged_decisions_total": 0.0,
        "ratelimit_degraded_decisions_total": 2.0,
    }


def _allowed() -> dict[str, object]:
    policy = DEFAULT_POLICIES["api"]
    return Decision(
        allowed=True,
        policy=policy.name,
        tier=Tier.NORMAL,
        limit=policy.normal,
        remaining=policy.normal - 1,
        reset_s=policy.window_s,
        retry_after_s=0,
        window_s=policy.window_s,
    ).model_dump(mode="json")


async def test_overdue_checks_ask_no_lease_and_a_late_lease_is_still_spent() -> None:
    # A key checked again and again: its checks ask for leases. While the service is overdue
    # the checks decided here ask for none (units leased for nobody would be lost); the lease
    # the hedged check asked for, when it comes late, is spent here.
    release = asyncio.Event()
    bodies: list[dict[str, object]] = []

    async def check(request: web.Request) -> web.Response:
        body = await request.json()
        bodies.append(body)
        if body.get("lease"):
            await release.wait()
        return web.json_response({**_allowed(), "lease": body.get("lease", 0)})

    app = web.Application()
    app.router.add_post("/v1/check", check)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        client = RateLimitClient(
            session,
            str(server.make_url("/")),
            service=f"t-lease-{secrets.token_hex(3)}",
            timeout_s=5.0,
            hedge_floor_s=0.05,
        )
        first = await client.check("api", "192.0.2.6", user_id="u")  # cold: no lease, a sample
        hedged = await client.check("api", "192.0.2.6", user_id="u")  # asks a lease: waits
        overdue = [await client.check("api", "192.0.2.6", user_id="u") for _ in range(3)]
        release.set()
        await eventually(_no_calls, "the late answers")
        leased = await client.check("api", "192.0.2.6", user_id="u")
        await client.close()
    assert not first.degraded and hedged.degraded and all(d.degraded for d in overdue)
    assert [bool(body.get("lease")) for body in bodies] == [False, True, False, False, False]
    assert not leased.degraded and len(bodies) == 5  # from the late lease, without a hop


async def _no_calls() -> bool:
    return not _remote_calls()
