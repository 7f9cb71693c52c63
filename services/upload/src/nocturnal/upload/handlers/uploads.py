"""HTTP handlers of `/api/uploads`: upload, list, read, signed URL, delete (owner only)."""

from __future__ import annotations

from aiohttp import web

from nocturnal.shared.auth.requests import authenticate
from nocturnal.shared.http.app import json_response
from nocturnal.shared.http.pagination import page_request, render_page
from nocturnal.shared.http.request import client_ip, query_int
from nocturnal.shared.problems import validation_problem
from nocturnal.shared.ratelimit.requests import enforce
from nocturnal.upload.domain.files import (
    FileKind,
    StoredFile,
)
from nocturnal.upload.handlers.multipart import file_part
from nocturnal.upload.keys import FILES, UPLOAD_SETTINGS

DEFAULT_URL_TTL_S = 3600
MAX_URL_TTL_S = 7 * 24 * 3600


def _kind(request: web.Request) -> FileKind:
    try:
        return FileKind(request.query.get("kind", ""))
    except ValueError:
        kinds = " or ".join(kind.value for kind in FileKind)
        raise validation_problem([{"field": "kind", "message": f"must be {kinds}"}]) from None


async def create_upload(request: web.Request) -> web.Response:
    """Upload one file (`multipart/form-data`, part `file`) as `?kind=profile-photo|document`."""
    principal = await authenticate(request)
    kind = _kind(request)
    settings = request.app[UPLOAD_SETTINGS]
    ip = client_ip(request, settings.client_ip_header)
    await enforce(request, "upload", ip, user_id=principal.user_id)
    part = await file_part(request, kind.max_bytes, idle_timeout_s=settings.upload_idle_timeout_s)
    file = await request.app[FILES].upload(principal.user_id, kind, part.filename, part.chunks())
    return json_response(file.public(), status=201)


async def list_uploads(request: web.Request) -> web.Response:
    """The caller's files, newest first, in cursor pages."""
    principal = await authenticate(request)
    files = await request.app[FILES].newest_first(principal.user_id, page_request(request))
    return json_response(render_page(files, StoredFile.public))


async def get_upload(request: web.Request) -> web.Response:
    """One of the caller's files (404 for anyone else's)."""
    principal = await authenticate(request)
    file = await request.app[FILES].get(request.match_info["file_id"], principal.user_id)
    return json_response(file.public())


async def get_upload_url(request: web.Request) -> web.Response:
    """A signed download URL of one of the caller's files, `?expires_in=1..604800` seconds."""
    expires_in = query_int(
        request, "expires_in", default=DEFAULT_URL_TTL_S, low=1, high=MAX_URL_TTL_S
    )
    principal = await authenticate(request)
    signed = await request.app[FILES].signed_url(
        request.match_info["file_id"], principal.user_id, expires_in
    )
    return json_response({"url": signed.url, "expires_at": signed.expires_at})


async def delete_upload(request: web.Request) -> web.Response:
    """Delete one of the caller's files (object and metadata)."""
    principal = await authenticate(request)
    await request.app[FILES].delete(request.match_info["file_id"], principal.user_id)
    return web.Response(status=204)
