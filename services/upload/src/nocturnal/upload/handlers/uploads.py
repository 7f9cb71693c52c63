"""HTTP handlers of `/api/uploads`: upload, list, read, signed URL, delete (owner only)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, field_validator
from typing_extensions import TypedDict

from nocturnal.shared.auth.requests import authenticate
from nocturnal.shared.http.app import json_response
from nocturnal.shared.http.pagination import page_request, render_page
from nocturnal.shared.http.request import QueryModel, client_ip, integer_in, parse_query
from nocturnal.shared.metrics import UPLOAD_BYTES_IN_FLIGHT
from nocturnal.shared.ratelimit.requests import enforce
from nocturnal.upload.domain.files import FileKind, StoredFile
from nocturnal.upload.handlers.multipart import file_part
from nocturnal.upload.keys import FILES, UPLOAD_SETTINGS

UPLOAD_POLICY = "upload"
DEFAULT_URL_TTL_S = 3600
MAX_URL_TTL_S = 7 * 24 * 3600


class UploadQuery(QueryModel):
    """`POST /api/uploads?kind=`: what the file is for (its size limit and accepted types)."""

    kind: Annotated[
        FileKind,
        Field(
            description="profile-photo: JPEG, PNG, WebP up to 5 MiB; document: PDF, JPEG, PNG up to 20 MiB"
        ),
    ]

    @field_validator("kind", mode="before")
    @classmethod
    def _one_of_the_kinds(cls, value: Any) -> Any:
        if value not in set(FileKind):
            raise ValueError(f"must be {' or '.join(kind.value for kind in FileKind)}")
        return value


class UrlQuery(QueryModel):
    """`GET /api/uploads/{id}/url?expires_in=`."""

    expires_in: Annotated[
        int,
        Field(ge=1, le=MAX_URL_TTL_S, description="Seconds the URL works (at most 7 days)."),
        integer_in(1, MAX_URL_TTL_S),
    ] = DEFAULT_URL_TTL_S


class SignedUrlView(TypedDict):
    """A download URL of a file and when it stops working."""

    url: Annotated[str, Field(description="signed: anyone holding it can download the file")]
    expires_at: datetime


async def create_upload(request: web.Request) -> web.Response:
    """Upload one file (`multipart/form-data`, part `file`) as `?kind=profile-photo|document`."""
    principal = await authenticate(request)
    kind = parse_query(request, UploadQuery).kind
    settings = request.app[UPLOAD_SETTINGS]
    ip = client_ip(request, settings.client_ip_header)
    await enforce(request, UPLOAD_POLICY, ip, user_id=principal.user_id)
    part = await file_part(request, kind.max_bytes, idle_timeout_s=settings.upload_idle_timeout_s)
    async with aclosing(_in_flight(part.chunks())) as chunks:
        file = await request.app[FILES].upload(principal.user_id, kind, part.filename, chunks)
    return json_response(file.public(), status=201)


async def _in_flight(chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    """`chunks`, counted in `upload_bytes_in_flight` until the upload is over (closed)."""
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            UPLOAD_BYTES_IN_FLIGHT.inc(len(chunk))
            yield chunk
    finally:
        UPLOAD_BYTES_IN_FLIGHT.dec(received)


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
    expires_in = parse_query(request, UrlQuery).expires_in
    principal = await authenticate(request)
    signed = await request.app[FILES].signed_url(
        request.match_info["file_id"], principal.user_id, expires_in
    )
    body: SignedUrlView = {"url": signed.url, "expires_at": signed.expires_at}
    return json_response(body)


async def delete_upload(request: web.Request) -> web.Response:
    """Delete one of the caller's files (object and metadata)."""
    principal = await authenticate(request)
    await request.app[FILES].delete(request.match_info["file_id"], principal.user_id)
    return web.Response(status=204)
