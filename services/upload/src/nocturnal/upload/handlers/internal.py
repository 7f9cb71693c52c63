"""Internal routes for peer services (not routed by the gateway)."""

from __future__ import annotations

from aiohttp import web
from pydantic import ConfigDict, Field

from nocturnal.shared.http.app import json_response
from nocturnal.shared.http.request import RequestModel, read_json
from nocturnal.upload.handlers.uploads import DEFAULT_URL_TTL_S, MAX_URL_TTL_S, SignedUrlView
from nocturnal.upload.keys import FILES, UPLOAD_SETTINGS


class SignedUrlRequest(RequestModel):
    """Body of `POST /v1/files/{file_id}/signed-url`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"expires_in": 3600}]})

    expires_in: int = Field(default=DEFAULT_URL_TTL_S, ge=1, le=MAX_URL_TTL_S)


async def create_signed_url(request: web.Request) -> web.Response:
    """A signed download URL of any file, for peers (api's profile `photo_url`)."""
    settings = request.app[UPLOAD_SETTINGS]
    asked = await read_json(request, SignedUrlRequest, max_bytes=settings.max_json_body_bytes)
    signed = await request.app[FILES].shared_url(request.match_info["file_id"], asked.expires_in)
    body: SignedUrlView = {"url": signed.url, "expires_at": signed.expires_at}
    return json_response(body)
