"""Tier overrides in Redis (each with its TTL), announced as `ratelimit.tier_changed`."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import files

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from nocturnal.ratelimit.adapters.redis_store import StoreUnavailable
from nocturnal.ratelimit.domain import abuse
from nocturnal.ratelimit.domain.subjects import TierChange, tier_key
from nocturnal.shared.events import EventBus, PublishError
from nocturnal.shared.logging import get_logger

FAILED_LOGIN_SCRIPT = files(__package__).joinpath("failed_login.lua").read_text()
log = get_logger("tiers")


class TierOverrides:
    """Puts subjects on a tier for a bounded time: by an operator, or after failed logins.

    A change takes effect in Redis first, then is announced. The service has no database,
    hence no outbox: the event is published with confirms after the change is stored, and a
    failed publish is logged while the change stays in effect.
    """

    def __init__(self, redis: Redis, bus: EventBus) -> None:
        self._redis = redis
        self._bus = bus
        self._failed_login = redis.register_script(FAILED_LOGIN_SCRIPT)

    async def apply(self, change: TierChange) -> None:
        """Store `change` for its TTL (replacing any earlier override) and announce it.

        Raises:
            StoreUnavailable: Redis failed; nothing changed and nothing was published.
        """
        try:
            await self._redis.set(change.key, change.tier.value, ex=change.ttl_s)
        except RedisError as exc:
            raise StoreUnavailable(repr(exc)) from exc
        await self._announce(change)

    async def record_failed_login(self, subject: str, event_id: str) -> None:
        """Count a failed login of `subject` once per event id; strict at the threshold.

        Raises:
            StoreUnavailable: Redis failed (the event is then retried).
        """
        keys = [
            abuse.failures_key(subject),
            tier_key(abuse.POLICY, subject),
            f"rate-limit-event:{event_id}",
        ]
        args = [abuse.FAILURE_WINDOW_S, abuse.FAILURES_BEFORE_STRICT, abuse.STRICT_FOR_S]
        try:
            became_strict = await self._failed_login(keys=keys, args=args)
        except RedisError as exc:
            raise StoreUnavailable(repr(exc)) from exc
        if became_strict:
            await self._announce(abuse.strict_after_failures(datetime.now(UTC), subject))

    async def record_login(self, subject: str) -> None:
        """Forget the failed logins of `subject` (its tier stays until the override ends).

        Raises:
            StoreUnavailable: Redis failed (the event is then retried).
        """
        try:
            await self._redis.delete(abuse.failures_key(subject))
        except RedisError as exc:
            raise StoreUnavailable(repr(exc)) from exc

    async def _announce(self, change: TierChange) -> None:
        data = change.to_json()
        log.info("tier changed", **data)
        event = self._bus.event("ratelimit.tier_changed", data, subject=change.subject)
        try:
            await self._bus.publisher.publish_confirmed(event)
        except PublishError as exc:
            log.warning("tier change not announced", reason=exc.reason, event_id=event.id)


TIER_OVERRIDES = web.AppKey("tier_overrides", TierOverrides)
