"""Rate limiting as seen by callers: policies, subject keys, the ratelimit-service client, headers.

The sliding-window algorithm on Redis lives in the ratelimit service; `SlidingWindowLog` here is
the in-memory form used when the store or the service is unreachable (DESIGN §1, ratelimit).
"""

from __future__ import annotations

import collections
import hashlib
import ipaddress
import math
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ValidationError

from nocturnal.shared.http.app import REQUEST_ID, SERVICE, CleanupContext, add_response_headers
from nocturnal.shared.http.client import HTTP_SESSION
from nocturnal.shared.logging import get_logger
from nocturnal.shared.metrics import RATELIMIT_DEGRADED
from nocturnal.shared.problems import Problem

KEY_PREFIX = "rate-limit"
log = get_logger("ratelimit")


class Tier(StrEnum):
    """`strict` is the same counter with the lower limit, for subjects seen abusing."""

    NORMAL = "normal"
    STRICT = "strict"


@dataclass(frozen=True)
class Policy:
    """A limit: at most `normal` (or `strict`) units in any `window_s`-second span."""

    name: str
    window_s: int
    normal: int
    strict: int

    def limit(self, tier: Tier) -> int:
        """The unit limit of `tier`."""
        return self.strict if tier is Tier.STRICT else self.normal


DEFAULT_POLICIES: Mapping[str, Policy] = {
    "auth": Policy("auth", window_s=15 * 60, normal=5, strict=3),
    "api": Policy("api", window_s=10 * 60, normal=100, strict=50),
    "upload": Policy("upload", window_s=60 * 60, normal=10, strict=5),
}


def ip_group(ip: str) -> str:
    """The address a limit counts against: IPv4 as is, IPv6 grouped by its /64 network."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


def subject_hash(value: str) -> str:
    """A short stable hash (SHA-256, 16 hex chars) naming a subject without storing it."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def limit_key(policy: str, ip: str, subject: str | None) -> str:
    """Redis key `rate-limit:{policy}:{ip group}-{subject or "anon"}` (DESIGN §1)."""
    return f"{KEY_PREFIX}:{policy}:{ip_group(ip)}-{subject or 'anon'}"


class Decision(BaseModel):
    """Outcome of one check (the ratelimit service's `/v1/check` response).

    Units are request units; `reset_s` is seconds until the window frees all used units,
    `retry_after_s` seconds until a denied request could pass (0 when allowed).
    """

    allowed: bool
    policy: str
    tier: Tier
    limit: int
    remaining: int
    reset_s: int
    retry_after_s: int
    window_s: int
    degraded: bool = False


class SlidingWindowLog:
    """In-memory sliding-window log: never more than `limit` units in any `window_s` span.

    A denied request consumes nothing. Per-process state: only for degraded operation.
    Keeps at most `max_keys` subjects (least recently used dropped first).
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self._log: collections.OrderedDict[str, collections.deque[tuple[float, int]]] = (
            collections.OrderedDict()
        )
        self._max_keys = max_keys

    def hit(
        self, key: str, *, limit: int, window_s: int, cost: int = 1, now: float | None = None
    ) -> tuple[bool, int, int, int]:
        """Count `cost` units for `key` if they fit: (allowed, remaining, reset_s, retry_after_s)."""
        now = time.monotonic() if now is None else now
        entries = self._log.setdefault(key, collections.deque())
        self._log.move_to_end(key)
        while entries and entries[0][0] <= now - window_s:
            entries.popleft()
        used = sum(units for _, units in entries)
        allowed = used + cost <= limit
        if allowed:
            entries.append((now, cost))
            used += cost
        retry_after = (
            0 if allowed else self._retry_after(entries, used + cost - limit, now, window_s)
        )
        reset = math.ceil(entries[-1][0] + window_s - now) if entries else 0
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
    """A degraded decision from `store`, allowing `ceil(limit / share)` units per window."""
    limit = math.ceil(policy.limit(tier) / max(share, 1))
    allowed, remaining, reset, retry = store.hit(
        key, limit=limit, window_s=policy.window_s, cost=cost
    )
    return Decision(
        allowed=allowed,
        policy=policy.name,
        tier=tier,
        limit=limit,
        remaining=remaining,
        reset_s=reset,
        retry_after_s=retry,
        window_s=policy.window_s,
        degraded=True,
    )


class RateLimitClient:
    """Client of the ratelimit service's `POST /v1/check`.

    Times out after the session's timeout (keep it small, e.g. 0.25 s); when the service is
    unreachable or answers an error, decides from a local `SlidingWindowLog` with the same
    policies (`degraded: true`, a log line and a metric).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        service: str,
        timeout_s: float = 0.25,
        policies: Mapping[str, Policy] = DEFAULT_POLICIES,
    ) -> None:
        self._session = session
        self._url = f"{base_url.rstrip('/')}/v1/check"
        self._service = service
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._policies = policies
        self._fallback = SlidingWindowLog()

    async def check(
        self,
        policy: str,
        ip: str,
        *,
        user_id: str | None = None,
        subject: str | None = None,
        cost: int = 1,
        request_id: str | None = None,
    ) -> Decision:
        """Count one request of `policy` for (ip, subject or user_id) and return the decision."""
        body: dict[str, Any] = {"policy": policy, "ip": ip, "cost": cost}
        for name, value in (("user_id", user_id), ("subject", subject), ("request_id", request_id)):
            if value:
                body[name] = value
        try:
            async with self._session.post(self._url, json=body, timeout=self._timeout) as resp:
                if resp.status == 200:
                    return Decision.model_validate(await resp.json())
                reason = f"status {resp.status}"
        except (aiohttp.ClientError, TimeoutError, ValidationError, ValueError) as exc:
            reason = repr(exc)
        log.warning("ratelimit service unavailable, deciding locally", policy=policy, error=reason)
        RATELIMIT_DEGRADED.labels(self._service, policy).inc()
        key = limit_key(policy, ip, subject or user_id)
        return decide_locally(self._fallback, self._policies[policy], key, cost=cost)


def ratelimit_headers(decision: Decision) -> dict[str, str]:
    """IETF `RateLimit-Policy` and `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers).

    `t` is when the quota is available again: on a denial the time until the request would
    fit (equal to `Retry-After`, DESIGN §1), otherwise the time until the window is clear.
    """
    name = decision.policy
    reset = decision.reset_s if decision.allowed else max(decision.retry_after_s, 1)
    return {
        "RateLimit-Policy": f'"{name}";q={decision.limit};w={decision.window_s}',
        "RateLimit": f'"{name}";r={decision.remaining};t={reset}',
    }


RATELIMIT_CLIENT = web.AppKey("ratelimit_client", RateLimitClient)


async def enforce(
    request: web.Request,
    policy: str,
    ip: str,
    *,
    user_id: str | None = None,
    subject: str | None = None,
) -> Decision:
    """Check `policy` for this request; add the RateLimit headers to its response.

    Raises:
        Problem: 429 with `Retry-After` (seconds) when the limit is reached.
    """
    decision = await request.app[RATELIMIT_CLIENT].check(
        policy, ip, user_id=user_id, subject=subject, request_id=request.get(REQUEST_ID)
    )
    headers = ratelimit_headers(decision)
    add_response_headers(request, headers)
    if not decision.allowed:
        retry = str(max(decision.retry_after_s, 1))
        raise Problem(
            429,
            f"rate limit of the {policy} policy reached; retry in {retry} s",
            headers={"Retry-After": retry},
        )
    return decision


def ratelimit_client_context(base_url: str, *, timeout_s: float) -> CleanupContext:
    """aiohttp cleanup context storing a `RateLimitClient` at `app[RATELIMIT_CLIENT]`.

    Needs `app[HTTP_SESSION]` (register `http_session_context` first).
    """

    async def context(app: web.Application) -> AsyncIterator[None]:
        app[RATELIMIT_CLIENT] = RateLimitClient(
            app[HTTP_SESSION], base_url, service=app[SERVICE], timeout_s=timeout_s
        )
        yield

    return context
