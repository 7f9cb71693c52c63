"""Liveness and readiness: `/health/live` and `/health/ready` (dependencies, consumers, draining)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

from aiohttp import web
from typing_extensions import TypedDict

Check = Callable[[], Awaitable[bool]]
CheckResult = Literal["ok", "failing"]

EVENT_BUS_CHECK = "rabbitmq"
"""The readiness check of a service's event bus: connected, and every consumer attached."""


class Readiness:
    """Named readiness checks plus a draining flag.

    A check is an async callable returning True when its dependency is usable; each runs with
    `timeout_s` (seconds) and counts as failed on timeout or exception. A non-critical check is
    reported but does not fail readiness (a dependency the service can serve without, e.g.
    ratelimit's Redis, which has a degraded mode). While `draining` is set (graceful shutdown)
    readiness is 503 whatever the checks say.
    """

    def __init__(self, timeout_s: float = 1.0) -> None:
        self._checks: dict[str, Check] = {}
        self._optional: set[str] = set()
        self._timeout_s = timeout_s
        self.draining = False

    def add(self, name: str, check: Check, *, critical: bool = True) -> None:
        """Register (or replace) the check called `name`."""
        self._checks[name] = check
        if critical:
            self._optional.discard(name)
        else:
            self._optional.add(name)

    async def _run(self, check: Check) -> bool:
        try:
            return bool(await asyncio.wait_for(check(), self._timeout_s))
        except Exception:
            return False

    async def evaluate(self) -> tuple[bool, dict[str, CheckResult]]:
        """Run every check concurrently.

        Returns (every critical check ok and not draining, {name: "ok" | "failing"}).
        """
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(self._checks[n]) for n in names))
        checks: dict[str, CheckResult] = {
            n: "ok" if ok else "failing" for n, ok in zip(names, results, strict=True)
        }
        critical_ok = all(
            ok for n, ok in zip(names, results, strict=True) if n not in self._optional
        )
        return critical_ok and not self.draining, checks


READINESS = web.AppKey("readiness", Readiness)


class Liveness(TypedDict):
    """`/health/live`: the process answers."""

    status: Literal["ok"]


class ReadinessReport(TypedDict):
    """`/health/ready`: the verdict, and each named check's result."""

    status: Literal["ok", "draining", "unavailable"]
    checks: dict[str, CheckResult]


async def live_handler(_: web.Request) -> web.Response:
    """GET /health/live: the process answers."""
    body: Liveness = {"status": "ok"}
    return web.json_response(body)


async def ready_handler(request: web.Request) -> web.Response:
    """GET /health/ready: 200 when every dependency check passes, else 503 with the details."""
    readiness = request.app[READINESS]
    ok, checks = await readiness.evaluate()
    body: ReadinessReport = {
        "status": "ok" if ok else ("draining" if readiness.draining else "unavailable"),
        "checks": checks,
    }
    return web.json_response(body, status=200 if ok else 503)
