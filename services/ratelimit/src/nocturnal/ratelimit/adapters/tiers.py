"""Tier overrides in Redis (each with its TTL) and the failed-login counts of the adaptive tier."""

from __future__ import annotations

from importlib.resources import files

from redis.asyncio import Redis
from redis.exceptions import RedisError

from nocturnal.ratelimit.domain import abuse
from nocturnal.ratelimit.domain.subjects import TierChange, tier_key
from nocturnal.ratelimit.service_layer import StoreUnavailable

FAILED_LOGIN_SCRIPT = files(__package__).joinpath("failed_login.lua").read_text()


class RedisTierStore:
    """The `TierStore` on Redis."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._failed_login = redis.register_script(FAILED_LOGIN_SCRIPT)

    async def put(self, change: TierChange) -> None:
        """Store `change` for its TTL (replacing any earlier override).

        Raises:
            StoreUnavailable: Redis failed; nothing changed.
        """
        try:
            await self._redis.set(change.key, change.tier.value, ex=change.ttl_s)
        except RedisError as exc:
            raise StoreUnavailable(repr(exc)) from exc

    async def count_failed_login(self, subject: str, event_id: str) -> bool:
        """Count a failed login of `subject` once per event id (atomically, in one script);
        True when it made the subject strict.

        Raises:
            StoreUnavailable: Redis failed.
        """
        keys = [
            abuse.failures_key(subject),
            tier_key(abuse.POLICY, subject),
            f"rate-limit-event:{event_id}",
        ]
        args = [abuse.FAILURE_WINDOW_S, abuse.FAILURES_BEFORE_STRICT, abuse.STRICT_FOR_S]
        try:
            return bool(await self._failed_login(keys=keys, args=args))
        except RedisError as exc:
            raise StoreUnavailable(repr(exc)) from exc

    async def forget_failed_logins(self, subject: str) -> None:
        """Forget the failed logins of `subject`.

        Raises:
            StoreUnavailable: Redis failed.
        """
        try:
            await self._redis.delete(abuse.failures_key(subject))
        except RedisError as exc:
            raise StoreUnavailable(repr(exc)) from exc
