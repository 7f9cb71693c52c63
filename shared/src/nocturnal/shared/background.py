"""A task that runs beside a block of code: started on entry, cancelled and awaited on exit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def in_background(work: Coroutine[Any, Any, object]) -> AsyncIterator[asyncio.Task[object]]:
    """Run `work` as a task while the block runs (e.g. a periodic refresh in an aiohttp cleanup
    context); on exit, cancel it and wait for it to end. Yields the task.

    An exception the task raised before the exit propagates from the exit; its cancellation
    does not.
    """
    task: asyncio.Task[object] = asyncio.create_task(work)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
