"""The in-memory sliding-window log: degraded-mode decisions when the shared store or the
ratelimit service is unreachable."""

from __future__ import annotations

import collections
import math
import time

from nocturnal.shared.ratelimit.policies import Decision, Policy, Tier


class _Entries:
    """One subject's log: (time, units) in arrival order and their sum."""

    __slots__ = ("log", "used")

    def __init__(self) -> None:
        self.log: collections.deque[tuple[float, int]] = collections.deque()
        self.used = 0


class SlidingWindowLog:
    """In-memory sliding-window log: never more than `limit` units in any `window_s` span.

    A denied request consumes nothing. Per-process state: only for degraded operation.
    Keeps at most `max_keys` subjects (least recently used dropped first). A hit costs the
    same however many entries the window holds (a running sum per subject; only a denial's
    `Retry-After` walks the oldest entries, until enough units would leave).
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self._log: collections.OrderedDict[str, _Entries] = collections.OrderedDict()
        self._max_keys = max_keys

    def hit(
        self, key: str, *, limit: int, window_s: int, cost: int = 1, now: float | None = None
    ) -> tuple[bool, int, int, int]:
        """Count `cost` units for `key` if they fit: (allowed, remaining, reset_s, retry_after_s)."""
        now = time.monotonic() if now is None else now
        entries = self._log.get(key)
        if entries is None:
            entries = self._log[key] = _Entries()
        else:
            self._log.move_to_end(key)
        log = entries.log
        while log and log[0][0] <= now - window_s:
            entries.used -= log.popleft()[1]
        allowed = entries.used + cost <= limit
        if allowed:
            log.append((now, cost))
            entries.used += cost
        used = entries.used
        retry_after = 0 if allowed else self._retry_after(log, used + cost - limit, now, window_s)
        reset = math.ceil(log[-1][0] + window_s - now) if log else 0
        while len(self._log) > self._max_keys:
            self._log.popitem(last=False)
        return allowed, max(limit - used, 0), reset, retry_after

    @staticmethod
    def _retry_after(
        entries: collections.deque[tuple[float, int]], excess: int, now: float, window_s: int
    ) -> int:
        freed = 0
        for stamp, units in entries:
            freed += units
            if freed >= excess:
                return max(1, math.ceil(stamp + window_s - now))
        return window_s


def decide_locally(
    store: SlidingWindowLog,
    policy: Policy,
    key: str,
    *,
    tier: Tier = Tier.NORMAL,
    cost: int = 1,
    share: int = 1,
) -> Decision:
    """A degraded decision from `store`, allowing `ceil(limit / share)` units per window.

    The decision names the configured policy (`limit` is the policy's quota, as in every
    `RateLimit-Policy` a client sees); `remaining` is what this instance's share has left.
    """
    share_limit = math.ceil(policy.limit(tier) / max(share, 1))
    allowed, remaining, reset, retry = store.hit(
        key, limit=share_limit, window_s=policy.window_s, cost=cost
    )
    return Decision(
        allowed=allowed,
        policy=policy.name,
        tier=tier,
        limit=policy.limit(tier),
        remaining=remaining,
        reset_s=reset,
        retry_after_s=retry,
        window_s=policy.window_s,
        degraded=True,
    )
