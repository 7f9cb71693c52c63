"""Typed keys of what the upload app holds (shared by the app factory and the handlers)."""

from __future__ import annotations

from aiohttp import web

from nocturnal.upload.adapters.storage import StorageBackend
from nocturnal.upload.domain.signing import UrlSigner
from nocturnal.upload.service_layer import FileService
from nocturnal.upload.settings import UploadSettings

UPLOAD_SETTINGS = web.AppKey("upload_settings", UploadSettings)
URL_SIGNER = web.AppKey("url_signer", UrlSigner)
STORAGE = web.AppKey("storage", StorageBackend)
FILES = web.AppKey("files", FileService)
