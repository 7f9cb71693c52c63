"""Typed application keys of the ratelimit service: its use cases, as the handlers reach them."""

from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis

from nocturnal.ratelimit.service_layer import SlidingWindowLimiter, Tiers

LIMITER = web.AppKey("limiter", SlidingWindowLimiter)
TIERS = web.AppKey("tiers", Tiers)
REDIS = web.AppKey("redis", Redis)
