"""How many ratelimit instances are live, counted through DNS (a headless Service name)."""

from __future__ import annotations

import asyncio
import socket

from nocturnal.shared.logging import get_logger

log = get_logger("instances")


class LiveInstances:
    """The number of distinct addresses `hostname` resolves to; 1 when unset or unresolvable.

    In degraded mode each instance allows `ceil(limit / count)` units, so together the
    instances stay near the limit without a shared store.
    """

    def __init__(self, hostname: str | None, *, timeout_s: float = 1.0) -> None:
        self._hostname = hostname
        self._timeout_s = timeout_s
        self.count = 1

    async def refresh(self) -> None:
        """Resolve the name again (bounded by the timeout) and update `count`."""
        if not self._hostname:
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                infos = await asyncio.get_running_loop().getaddrinfo(
                    self._hostname, None, type=socket.SOCK_STREAM
                )
        except (OSError, UnicodeError, TimeoutError) as exc:
            log.warning("instance count lookup failed", hostname=self._hostname, error=repr(exc))
            self.count = 1
            return
        self.count = max(1, len({info[4][0] for info in infos}))

    async def run(self, interval_s: float) -> None:
        """Refresh every `interval_s` seconds until cancelled (returns at once without a name)."""
        if not self._hostname:
            return
        while True:
            await asyncio.sleep(interval_s)
            await self.refresh()
