"""The in-memory sliding-window log: degraded-mode decisions when the shared store or the
ratelimit service is unreachable."""

from __future__ import annotations

import collections
import math
import time

from nocturnal.shared.ratelimit.policies import Decision, Policy, Tier


class _Entries:
    """One subject's log: (time, units) in arrival order, their sum and the latest time.

    A lease's units are stamped at the lease's end, later than checks that arrive after them:
    an entry leaves only once every entry before it has, so such a check stays counted until
    the lease's units leave (never too early), and the time an entry leaves is the latest
    stamp up to it (`_retry_after`)."""

    __slots__ = ("latest", "log", "used")

    def __init__(self) -> None:
        self.log: collections.deque[tuple[float, int]] = collections.deque()
        self.used = 0
        self.latest = float("-inf")


class SlidingWindowLog:
    """In-memory sliding-window log: never more than `limit` units in any `window_s` span.

    A denied request consumes nothing. Per-process state: only for degraded operation.
    Keeps at most `max_keys` subjects (least recently used dropped first). A hit costs the
    same however many entries the window holds (a running sum per subject; only a denial's
    `Retry-After` walks the oldest entries, until enough units would leave). Times are
    monotonic seconds.
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self._log: collections.OrderedDict[str, _Entries] = collections.OrderedDict()
        self._max_keys = max_keys

    def hit(
        self, key: str, *, limit: int, window_s: int, cost: int = 1, now: float | None = None
    ) -> tuple[bool, int, int, int]:
        """Count `cost` units for `key` if they fit: (allowed, remaining, reset_s, retry_after_s)."""
        now = time.monotonic() if now is None else now
        entries = self._entries(key, now, window_s)
        log = entries.log
        allowed = entries.used + cost <= limit
        if allowed:
            self._count(entries, now, cost)
        used = entries.used
        retry_after = 0 if allowed else self._retry_after(log, used + cost - limit, now, window_s)
        reset = math.ceil(entries.latest + window_s - now) if log else 0
        return allowed, max(limit - used, 0), reset, retry_after

    def lease(
        self, key: str, *, units: int, limit: int, window_s: int, lease_s: float, now: float
    ) -> int:
        """Grant up to `units` more units of `key` as a quota lease (DESIGN §1) spent by the
        caller within `lease_s` seconds from `now`; the number granted (0 to `units`).

        As the shared store's leases (sliding_window.lua): never more than half of what
        remains, none within the last tenth of the limit (a key near its limit is checked one
        request at a time), and the granted units are stamped at `now + lease_s`, so each stays
        counted for the window after the last moment it can be spent. Call it after an allowed
        `hit` of the same key at the same `now`.
        """
        entries = self._entries(key, now, window_s)
        left = limit - entries.used
        granted = min(units, left // 2) if left >= math.ceil(limit / 10) else 0
        if granted > 0:
            self._count(entries, now + lease_s, granted)
        return granted

    def _entries(self, key: str, now: float, window_s: int) -> _Entries:
        entries = self._log.get(key)
        if entries is None:
            entries = self._log[key] = _Entries()
            while len(self._log) > self._max_keys:
                self._log.popitem(last=False)
        else:
            self._log.move_to_end(key)
        log = entries.log
        while log and log[0][0] <= now - window_s:
            entries.used -= log.popleft()[1]
        return entries

    @staticmethod
    def _count(entries: _Entries, stamp: float, units: int) -> None:
        entries.log.append((stamp, units))
        entries.used += units
        entries.latest = max(entries.latest, stamp)

    @staticmethod
    def _retry_after(
        entries: collections.deque[tuple[float, int]], excess: int, now: float, window_s: int
    ) -> int:
        freed, leaves = 0, float("-inf")
        for stamp, units in entries:
            freed += units
            leaves = max(leaves, stamp)  # an entry leaves once those before it have
            if freed >= excess:
                return max(1, math.ceil(leaves + window_s - now))
        return window_s


def decide_locally(
    store: SlidingWindowLog,
    policy: Policy,
    key: str,
    *,
    tier: Tier = Tier.NORMAL,
    cost: int = 1,
    share: int = 1,
    lease: int = 0,
    lease_s: float = 0.0,
    now: float | None = None,
) -> Decision:
    """A degraded decision from `store`, allowing `ceil(limit / share)` units per window.

    The decision names the configured policy (`limit` is the policy's quota, as in every
    `RateLimit-Policy` a client sees); `remaining` is what this instance's share has left.
    With `lease` > 0 and `lease_s` > 0 an allowed check also grants a quota lease of up to
    `lease` units from this instance's share, spent by the caller within `lease_s` seconds
    (`SlidingWindowLog.lease`); the decision's `lease` says how many. `now`: monotonic seconds.
    """
    now = time.monotonic() if now is None else now
    share_limit = math.ceil(policy.limit(tier) / max(share, 1))
    allowed, remaining, reset, retry = store.hit(
        key, limit=share_limit, window_s=policy.window_s, cost=cost, now=now
    )
    granted = 0
    if allowed and lease > 0 and lease_s > 0:
        granted = store.lease(
            key, units=lease, limit=share_limit, window_s=policy.window_s, lease_s=lease_s, now=now
        )
    if granted:
        reset = max(reset, math.ceil(lease_s + policy.window_s))  # the lease's units leave last
    return Decision(
        allowed=allowed,
        policy=policy.name,
        tier=tier,
        limit=policy.limit(tier),
        remaining=remaining - granted,
        reset_s=reset,
        retry_after_s=retry,
        window_s=policy.window_s,
        degraded=True,
        lease=granted,
    )
