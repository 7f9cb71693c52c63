"""Waiting for what happens asynchronously (a consumer's effect, a relay's publish): the one
bounded poll every test uses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

WAIT_S = 10.0
"""Upper bound of every wait for something that should happen promptly."""


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, within: float = WAIT_S
) -> None:
    """Poll `check` every 20 ms until it is true; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.02)
