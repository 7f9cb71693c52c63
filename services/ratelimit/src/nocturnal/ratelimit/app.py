"""The ratelimit service's composition root: `create_app(settings)` wires Redis, the live
instance count and the event bus into the use cases; every resource is a cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from nocturnal.ratelimit import SERVICE
from nocturnal.ratelimit.adapters.announcer import BusAnnouncer
from nocturnal.ratelimit.adapters.redis_store import RedisSlidingWindow, connect
from nocturnal.ratelimit.adapters.tiers import RedisTierStore
from nocturnal.ratelimit.handlers.errors import PROBLEMS
from nocturnal.ratelimit.handlers.events import login_handlers
from nocturnal.ratelimit.keys import LIMITER, REDIS, TIERS
from nocturnal.ratelimit.routes import setup_routes
from nocturnal.ratelimit.service_layer import SlidingWindowLimiter, Tiers
from nocturnal.ratelimit.settings import RatelimitSettings
from nocturnal.shared.background import in_background
from nocturnal.shared.events import EventBus
from nocturnal.shared.health import READINESS
from nocturnal.shared.http.app import CleanupContext, create_service_app
from nocturnal.shared.http.events import serving_events
from nocturnal.shared.ratelimit.instances import LiveInstances


def redis_context(settings: RatelimitSettings) -> CleanupContext:
    """Redis, the limiter with its in-memory fallback and the live-instance count.

    Starts even when Redis is down: checks are then answered in degraded mode.
    """

    async def context(app: web.Application) -> AsyncIterator[None]:
        redis = connect(
            settings.redis_url,
            timeout_s=settings.redis_timeout_s,
            max_connections=settings.redis_max_connections,
        )
        store = RedisSlidingWindow(redis)
        instances = LiveInstances(settings.ratelimit_peers_dns, configured=settings.instances)
        app[REDIS] = redis
        limiter = SlidingWindowLimiter(settings.policies, store, instances)
        app[LIMITER] = limiter
        # Reported, not failing: with Redis down this service still answers (degraded mode).
        app[READINESS].add("redis", limiter.store_ready, critical=False)
        await instances.refresh()
        async with in_background(instances.run(settings.ratelimit_peers_refresh_s)):
            yield
            await redis.aclose()

    return context


def events_context(settings: RatelimitSettings) -> CleanupContext:
    """The event bus (no database: no outbox, no inbox) consuming auth's login events, and the
    tier overrides that announce their changes on it."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        bus = EventBus.for_service(settings, service=SERVICE, db=None)
        tiers = Tiers(RedisTierStore(app[REDIS]), BusAnnouncer(bus))
        bus.subscribe_direct(login_handlers(tiers))
        async with serving_events(app, bus):
            app[TIERS] = tiers
            yield

    return context


def create_app(settings: RatelimitSettings) -> web.Application:
    """The ratelimit service application (internal: `/v1/check`, policies, tier overrides)."""
    app = create_service_app(settings, service=SERVICE, problems=PROBLEMS)
    app.cleanup_ctx.append(redis_context(settings))
    app.cleanup_ctx.append(events_context(settings))
    setup_routes(app)
    return app
