"""A service's event bus inside its aiohttp app: readiness, and revocations for verifiers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from nocturnal.shared.auth.requests import TOKEN_VERIFIER
from nocturnal.shared.auth.revocation import EpochSource, RevocationFollower
from nocturnal.shared.events.bus import EventBus
from nocturnal.shared.health import EVENT_BUS_CHECK, READINESS
from nocturnal.shared.metrics import METRICS_SAMPLERS


@asynccontextmanager
async def serving_events(
    app: web.Application, bus: EventBus, *, revocations: EpochSource | None = None
) -> AsyncIterator[EventBus]:
    """Open `bus` (subscribe its handlers first) for the app's lifetime, with its readiness
    check (`rabbitmq`: connected, every consumer attached) and its metrics sampler.

    With `revocations` (a verifying service: the source of the epochs still in force), the
    app's `TokenVerifier` follows `auth.tokens_revoked` on a fan-out queue and loads the
    epochs once that queue is attached — subscribed first, loaded second, so a revocation in
    between is seen at least once. Needs `app[TOKEN_VERIFIER]` then.
    """
    follower = None
    if revocations is not None:
        follower = RevocationFollower(app[TOKEN_VERIFIER].revocations, revocations)
        follower.subscribe(bus)
    async with bus:
        app[READINESS].add(EVENT_BUS_CHECK, bus.ready)
        app[METRICS_SAMPLERS].append(bus.sample_metrics)
        if follower is not None:
            await follower.load()
        yield bus
