"""Typed application keys of the upload service: its use cases and settings, as the handlers
reach them."""

from __future__ import annotations

from aiohttp import web

from nocturnal.shared.http.overload import InFlightLimit
from nocturnal.upload.service_layer import Downloads, FileService, StorageBackend
from nocturnal.upload.settings import UploadSettings

UPLOAD_SETTINGS = web.AppKey("upload_settings", UploadSettings)
STORAGE = web.AppKey("storage", StorageBackend)
FILES = web.AppKey("files", FileService)
DOWNLOADS = web.AppKey("downloads", Downloads)
UPLOAD_SLOTS = web.AppKey("upload_slots", InFlightLimit)
