"""The sliding-window limiter on Redis: one Lua script decides and counts each check atomically."""

from __future__ import annotations

import secrets
from importlib.resources import files

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from nocturnal.ratelimit.service_layer import StoreUnavailable
from nocturnal.shared.ratelimit.policies import Decision, Policy, Tier

SCRIPT = files(__package__).joinpath("sliding_window.lua").read_text()


def connect(url: str, *, timeout_s: float, max_connections: int = 32) -> Redis:
    """A Redis client whose every step (pool wait, connect, reply) fails after `timeout_s`.

    No retry of a timeout: the limiter has its own fallback, so a slow Redis must surface at
    once. One retry of a connection error: a pooled connection that a Redis restart closed
    fails its next command, and the retry on a new connection then finds the restarted Redis
    (a Redis that is down refuses the new connection at once). The pool is bounded and waits for a free connection: a burst then reuses a few
    connections instead of opening one each, whose handshakes would time out together. The
    timeouts are per step, not per check, so time a busy event loop spends before a step
    starts is not mistaken for a slow Redis.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
        decode_responses=True,
    )
    return Redis.from_pool(pool)


class RedisSlidingWindow:
    """The `CounterStore`: sliding-window logs in Redis sorted sets (one member per unit, scored by Redis's clock).

    Never more than the limit in any span of the window; a denied check writes nothing; every
    written key gets a TTL equal to the time its newest unit still counts.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._script = redis.register_script(SCRIPT)

    async def hit(
        self,
        policy: Policy,
        counter_key: str,
        tier_key: str,
        cost: int,
        *,
        lease: int = 0,
        lease_ms: int = 0,
    ) -> Decision:
        """Count `cost` units on `counter_key` if they fit the tier's limit; the decision.

        With `lease` > 0 an allowed check also grants up to `lease` more units (never more than
        half of what remains), counted now and for the window after `lease_ms` (see
        sliding_window.lua); the decision's `lease` says how many.

        Raises:
            StoreUnavailable: Redis failed, or a step (waiting for a pooled connection,
                connecting, a reply) took longer than the client's timeout.
        """
        args: list[int | str] = [
            policy.window_s,
            policy.normal,
            policy.strict,
            cost,
            secrets.token_hex(8),
            lease,
            lease_ms,
        ]
        try:
            allowed, tier, limit, remaining, reset, retry, granted = await self._script(
                keys=[counter_key, tier_key], args=args
            )
        except RedisError as exc:
            raise StoreUnavailable(repr(exc)) from exc
        return Decision(
            allowed=bool(allowed),
            policy=policy.name,
            tier=Tier(tier),
            limit=limit,
            remaining=remaining,
            reset_s=reset,
            retry_after_s=retry,
            window_s=policy.window_s,
            lease=granted,
        )

    async def ping(self) -> bool:
        """True when Redis answers PING."""
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False
