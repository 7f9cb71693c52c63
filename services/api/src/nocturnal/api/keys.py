"""Typed application keys of the api service's resources."""

from __future__ import annotations

from aiohttp import web

from nocturnal.api.adapters.notifications import NotificationRepository
from nocturnal.api.adapters.profiles import ProfileRepository
from nocturnal.api.adapters.upload import UploadClient
from nocturnal.api.service_layer import Marketplace

MARKETPLACE = web.AppKey("marketplace", Marketplace)
PROFILES = web.AppKey("profiles", ProfileRepository)
NOTIFICATIONS = web.AppKey("notifications", NotificationRepository)
UPLOAD_CLIENT = web.AppKey("upload_client", UploadClient)
