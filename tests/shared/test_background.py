"""`in_background`: the task runs while the block runs and is gone when it ends."""

from __future__ import annotations

import asyncio

import pytest

from nocturnal.shared.background import in_background


async def test_the_task_runs_during_the_block_and_is_cancelled_and_awaited_after() -> None:
    ticks = 0
    cleaned = False

    async def tick() -> None:
        nonlocal ticks, cleaned
        try:
            while True:
                ticks += 1
                await asyncio.sleep(0)
        finally:
            cleaned = True

    async with in_background(tick()) as task:
        for _ in range(5):
            await asyncio.sleep(0)
    assert ticks >= 3
    assert task.cancelled() and cleaned


async def test_a_failure_of_the_task_surfaces_at_the_exit() -> None:
    async def fail() -> None:
        raise RuntimeError("refresh broke")

    with pytest.raises(RuntimeError, match="refresh broke"):
        async with in_background(fail()):
            await asyncio.sleep(0.01)
