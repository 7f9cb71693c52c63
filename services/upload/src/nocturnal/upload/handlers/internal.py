"""Internal routes for peer services (not routed by the gateway)."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from nocturnal.shared.http.app import json_response
from nocturnal.shared.http.request import RequestModel, read_json
from nocturnal.shared.problems import not_found
from nocturnal.upload.handlers.uploads import DEFAULT_URL_TTL_S, MAX_URL_TTL_S
from nocturnal.upload.keys import FILES, UPLOAD_SETTINGS
from nocturnal.upload.service_layer import FileNotFound


class SignedUrlRequest(RequestModel):
    """Body of `POST /v1/files/{file_id}/signed-url`."""

    expires_in: int = Field(default=DEFAULT_URL_TTL_S, ge=1, le=MAX_URL_TTL_S)


async def create_signed_url(request: web.Request) -> web.Response:
    """A signed download URL of any file, for peers (api's profile `photo_url`)."""
    settings = request.app[UPLOAD_SETTINGS]
    body = await read_json(request, SignedUrlRequest, max_bytes=settings.max_json_body_bytes)
    try:
        file = await request.app[FILES].any_file(request.match_info["file_id"])
    except FileNotFound:
        raise not_found("no such file") from None
    url, expires_at = await request.app[FILES].signed_url(file, body.expires_in, for_owner=False)
    return json_response({"url": url, "expires_at": expires_at})
