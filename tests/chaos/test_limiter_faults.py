"""The rate limiter's faults under steady load through the gateway (issue 10): Redis stopped,
Redis hanging, the ratelimit service killed, the ratelimit service hanging.

The stack runs on a redis-server of this module's own (stopped, hung with `DEBUG SLEEP`,
started again), never the machine's. The `auth` policy is configured small and unlike its
default (4 per 600 s), so a fallback that used anything but the configured policy shows in the
429s. Per fault: no 5xx and no connection error; a subject gets exactly its degraded allowance
(`ceil(limit / live instances)`, one auth and one ratelimit instance here: 4) and its 429s carry
the configured policy; decisions were taken locally; and the limiter goes back to its store or
service by itself, without restarting anything but what the fault killed.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import signal
from collections.abc import Iterator

import aiohttp
import pytest
from ratelimit.private_redis import PrivateRedis

from chaos.driver import SteadyLoad, register, standard_mix
from chaos.report import record
from chaos.servers import LOOSE_LIMITS, RestartableMongo, instances_of, kill, respawn, running_stack
from tools.devstack import Stack, free_ports

pytestmark = pytest.mark.integration

AUTH_LIMIT, AUTH_WINDOW_S = 4, 600
POLICIES = json.dumps(
    {
        "api": json.loads(LOOSE_LIMITS)["api"],
        "auth": {"window_s": AUTH_WINDOW_S, "normal": AUTH_LIMIT, "strict": 2},
    }
)
CONFIGURED_AUTH = f'"auth";q={AUTH_LIMIT};w={AUTH_WINDOW_S}'


@pytest.fixture(scope="module")
def redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("the chaos suite needs redis-server (apt-get install redis-server)")
    server = PrivateRedis(free_ports(1)[0])
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    chaos_mongo: RestartableMongo,
    redis: PrivateRedis,
    amqp_url: str,
) -> Iterator[Stack]:
    with running_stack(
        tmp_path_factory.mktemp("chaos-limiter"),
        mongo_url=chaos_mongo.url,
        redis_url=redis.url,
        amqp_url=amqp_url,
        extra_env={"RATELIMIT_POLICIES": POLICIES},
        # auth's checks are never hedged here (hedge floor = its 0.25 s timeout): the login
        # probes assert the degraded allowance exactly, not plus a hedged check on a slow CI.
        service_env={"auth": {"RATELIMIT_HEDGE_FLOOR_S": "0.25"}},
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
async def token(stack: Stack) -> str:
    token, _ = await register(stack.base_url)
    return token


async def login_attempts(base_url: str, attempts: int) -> list[tuple[int, str | None]]:
    """`attempts` logins of a fresh unknown e-mail: (status, RateLimit-Policy) of each."""
    body = {"email": f"chaos.{secrets.token_hex(5)}@example.com", "password": "not-it-1234567"}
    answers = []
    async with aiohttp.ClientSession() as session:
        for _ in range(attempts):
            async with session.post(f"{base_url}/api/auth/login", json=body) as response:
                answers.append((response.status, response.headers.get("RateLimit-Policy")))
    return answers


def assert_degraded_allowance(answers: list[tuple[int, str | None]]) -> None:
    """Exactly the allowance was let through, and every answer names the configured policy."""
    assert [status for status, _ in answers] == [401] * AUTH_LIMIT + [429] * (
        len(answers) - AUTH_LIMIT
    ), answers
    assert {policy for _, policy in answers} == {CONFIGURED_AUTH}, answers


async def local_decisions(
    url: str, service: str, metric: str = "ratelimit_degraded_decisions_total"
) -> float:
    """`metric` (degraded decisions by default) of `service` summed over policies, at `url`."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
        text = await response.text()
    pattern = rf'^{metric}\{{[^}}]*service="{service}"[^}}]*\}} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, text, re.MULTILINE))


async def decided_at_the_apis(stack: Stack) -> float:
    """Checks the api instances decided locally, degraded or hedged."""
    total = 0.0
    for api in instances_of(stack, "api"):
        for metric in ("ratelimit_degraded_decisions_total", "ratelimit_hedged_decisions_total"):
            total += await local_decisions(api.url, "api", metric)
    return total


async def readiness(url: str) -> dict[str, str]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/health/ready") as response:
        checks: dict[str, str] = (await response.json())["checks"]
    return checks


async def check_is_distributed(url: str) -> bool:
    """A fresh subject's check at the ratelimit instance is decided on Redis."""
    body = {"policy": "api", "ip": "203.0.113.9", "user_id": secrets.token_hex(6)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/v1/check", json=body) as response,
    ):
        return response.status == 200 and not (await response.json())["degraded"]


async def wait_ready_check(load: SteadyLoad, url: str, name: str) -> None:
    """Wait under load until readiness at `url` reports `name` ok again."""
    for _ in range(600):
        if (await readiness(url)).get(name) == "ok":
            return
        await load.settle(0.1)
    pytest.fail(f"{name} never reported ok again at {url}")


async def test_redis_stopped_under_load(stack: Stack, redis: PrivateRedis, token: str) -> None:
    ratelimit = instances_of(stack, "ratelimit")[0]
    before = await local_decisions(ratelimit.url, "ratelimit")
    load = SteadyLoad(stack.base_url, standard_mix(token))
    async with load.running():
        await load.settle(3.0)
        load.phase = "during"
        redis.stop()
        probe = await login_attempts(stack.base_url, AUTH_LIMIT + 3)
        await load.settle(2.0)
        during = await local_decisions(ratelimit.url, "ratelimit")
        load.phase = "after"
        redis.start()
        await wait_ready_check(load, ratelimit.url, "redis")
        await load.settle(3.0)
    record("Redis stopped", load)
    load.assert_only()
    assert_degraded_allowance(probe)
    assert during > before
    assert await check_is_distributed(ratelimit.url)


async def test_redis_hanging_under_load(stack: Stack, redis: PrivateRedis, token: str) -> None:
    ratelimit = instances_of(stack, "ratelimit")[0]
    before = await local_decisions(ratelimit.url, "ratelimit")
    load = SteadyLoad(stack.base_url, standard_mix(token))
    async with load.running():
        await load.settle(3.0)
        load.phase = "during"
        sleeping = await redis.hang(4)
        await load.settle(2.0)
        during = await local_decisions(ratelimit.url, "ratelimit")
        load.phase = "after"
        await sleeping
        await wait_ready_check(load, ratelimit.url, "redis")
        await load.settle(3.0)
    record("Redis hanging (DEBUG SLEEP)", load)
    load.assert_only()
    assert during > before
    assert await check_is_distributed(ratelimit.url)


async def test_ratelimit_killed_under_load(stack: Stack, token: str) -> None:
    victim = instances_of(stack, "ratelimit")[0]
    apis = instances_of(stack, "api")
    before = sum([await local_decisions(api.url, "api") for api in apis])
    load = SteadyLoad(stack.base_url, standard_mix(token))
    async with load.running():
        await load.settle(3.0)
        load.phase = "during"
        kill(victim, signal.SIGKILL)
        probe = await login_attempts(stack.base_url, AUTH_LIMIT + 3)
        await load.settle(2.0)
        during = sum([await local_decisions(api.url, "api") for api in apis])
        load.phase = "after"
        fresh = await respawn(stack, victim)
        for api in apis:  # the api instances find the service again by themselves
            await wait_ready_check(load, api.url, "ratelimit")
        settled = sum([await local_decisions(api.url, "api") for api in apis])
        await load.settle(3.0)
        after = sum([await local_decisions(api.url, "api") for api in apis])
    record("ratelimit killed", load)
    load.assert_only()
    assert_degraded_allowance(probe)
    assert during > before
    assert after == settled  # back on the service: no local decision since
    assert await check_is_distributed(fresh.url)


HANG_S = 4.0


async def test_ratelimit_hanging_under_load(stack: Stack, token: str) -> None:
    # SIGSTOP: the ratelimit process keeps its sockets open and answers nothing.
    victim = instances_of(stack, "ratelimit")[0]
    apis = instances_of(stack, "api")
    before = await decided_at_the_apis(stack)
    load = SteadyLoad(stack.base_url, standard_mix(token))
    async with load.running():
        await load.settle(3.0)
        load.phase = "during"
        kill(victim, signal.SIGSTOP)
        try:
            await load.settle(HANG_S)
            during = await decided_at_the_apis(stack)
        finally:
            kill(victim, signal.SIGCONT)
        load.phase = "after"
        for api in apis:  # the api instances find the service again by themselves
            await wait_ready_check(load, api.url, "ratelimit")
        await load.settle(3.0)
    record("ratelimit hanging (SIGSTOP)", load)
    load.assert_only()
    assert during > before  # decided locally (hedged, then degraded once the breaker opened)
    # Bounded by the hedge deadline or at worst the check's timeout, never by the hang.
    slowest = max(outcome.latency_ms for outcome in load.in_phase("during"))
    assert slowest < HANG_S * 1000, slowest
    assert await check_is_distributed(victim.url)
