"""What the upload tests stand up around the service: real files, a token issuer, an event probe."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Callable

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from token_issuer import access_token, public_jwk

from nocturnal.shared.events import CloudEvent
from nocturnal.upload.settings import UploadSettings

TokenFactory = Callable[..., str]
SettingsFactory = Callable[..., UploadSettings]


def image_bytes(fmt: str, size: tuple[int, int] = (16, 16)) -> bytes:
    """A real image of `fmt` (JPEG, PNG, WEBP, PDF) made by Pillow."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 60)).save(buffer, fmt)
    return buffer.getvalue()


class Issuer:
    """Stands in for auth: serves a JWKS and revocation epochs over real HTTP, signs access tokens."""

    def __init__(self) -> None:
        self.kid = uuid.uuid4().hex
        self.key = Ed25519PrivateKey.generate()
        self.url = ""
        self.revoked: dict[str, int] = {}

    async def jwks(self, _: web.Request) -> web.Response:
        return web.json_response({"keys": [public_jwk(self.key, self.kid)]})

    async def revocations(self, _: web.Request) -> web.Response:
        items = [{"user_id": user, "not_before": at} for user, at in self.revoked.items()]
        return web.json_response({"items": items})

    def token(self, user_id: str, role: str = "doctor") -> str:
        return access_token(self.key, self.kid, sub=user_id, role=role)


class FileEvents:
    """`file.*` events seen on the session's exchange during one test."""

    def __init__(self) -> None:
        self.seen: list[CloudEvent] = []

    async def wait_for(self, name: str, file_id: str) -> CloudEvent:
        """The `name` event of `file_id`, waiting up to 10 s for it."""
        async with asyncio.timeout(10):
            while True:
                for event in self.seen:
                    if event.name == name and event.data.get("file_id") == file_id:
                        return event
                await asyncio.sleep(0.05)
