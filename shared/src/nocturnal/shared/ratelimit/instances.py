"""How many instances of a service are live: counted through DNS (a headless Service name), or
configured (local runs), for the degraded limiters that share a limit among the instances."""

from __future__ import annotations

import asyncio
import socket

from nocturnal.shared.logging import get_logger

log = get_logger("instances")


class LiveInstances:
    """The number of distinct addresses `hostname` resolves to; `configured` without a name.

    In degraded mode each instance allows `ceil(limit / count)` units, so together the
    instances stay near the limit without a shared store. In Kubernetes `hostname` is a
    headless Service selecting the service's ready pods (`ratelimit-peers`, `api-peers`, ...);
    locally (no cluster DNS) the process manager passes the count it started as `configured`.
    An unresolvable name counts as one instance (the safe side: the strictest share).

    Args:
        hostname: the name to resolve, or None.
        configured: the count used without a name (>= 1).
        timeout_s: bound on one lookup, in seconds.
    """

    def __init__(
        self, hostname: str | None, *, configured: int = 1, timeout_s: float = 1.0
    ) -> None:
        self._hostname = hostname
        self._timeout_s = timeout_s
        self.count = max(configured, 1)

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
