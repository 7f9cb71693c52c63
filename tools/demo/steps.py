"""How a phase runs its steps: concurrently, until an event lands, only when it has what it needs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from typing import TypeVar

from tools.demo.report import DivergenceError, PhaseSkipped, Section

T = TypeVar("T")

EVENT_WAIT_S = 10.0  # bounded wait for effects that travel through RabbitMQ
POLL_INTERVAL_S = 0.25


async def poll(
    probe: Callable[[], Awaitable[T | None]], timeout_s: float
) -> tuple[T | None, float]:
    """Call `probe` until it returns a value or `timeout_s` passes; returns (value, seconds)."""
    started = time.perf_counter()
    while True:
        value = await probe()
        elapsed = time.perf_counter() - started
        if value is not None or elapsed >= timeout_s:
            return value, elapsed
        await asyncio.sleep(POLL_INTERVAL_S)


async def settle(section: Section, jobs: Collection[Awaitable[T]]) -> list[T]:
    """Run like jobs concurrently; keep the results, record each kind of divergence once."""
    results = await asyncio.gather(*jobs, return_exceptions=True)
    kept: list[T] = []
    failures: dict[str, list[DivergenceError]] = {}
    for result in results:
        if isinstance(result, DivergenceError):
            failures.setdefault(str(result.expected), []).append(result)
        elif isinstance(result, BaseException):
            raise result
        else:
            kept.append(result)
    for first, *others in failures.values():
        more = f" (and {len(others)} more like it)" if others else ""
        section.failed(first.what + more, first.expected, first.got)
    return kept


def require(condition: bool, reason: str) -> None:
    if not condition:
        raise PhaseSkipped(reason)
