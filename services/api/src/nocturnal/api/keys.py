"""Typed application keys of the api service: its use cases, as the handlers reach them."""

from __future__ import annotations

from aiohttp import web

from nocturnal.api.service_layer.marketplace import Marketplace
from nocturnal.api.service_layer.members import Notifications, Profiles

MARKETPLACE = web.AppKey("marketplace", Marketplace)
PROFILES = web.AppKey("profiles", Profiles)
NOTIFICATIONS = web.AppKey("notifications", Notifications)
