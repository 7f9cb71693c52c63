"""`GET /api/files/{key}`: signed downloads of the local storage backend."""

from __future__ import annotations

import time
from contextlib import aclosing

from aiohttp import web

from nocturnal.shared.problems import Problem, not_found
from nocturnal.upload.adapters.storage import ObjectNotFound
from nocturnal.upload.domain.files import content_disposition, media_type_of_key
from nocturnal.upload.keys import STORAGE, URL_SIGNER

MAX_EXPIRES_DIGITS = 12


def _signature_valid(request: web.Request, key: str) -> bool:
    expires = request.query.get("expires", "")
    filename = request.query.get("filename")
    signature = request.query.get("signature")
    if not (expires.isdigit() and len(expires) <= MAX_EXPIRES_DIGITS) or not signature:
        return False
    if filename is None:
        return False
    return request.app[URL_SIGNER].verify(
        key, int(expires), filename, signature, now=int(time.time())
    )


async def download_file(request: web.Request) -> web.StreamResponse:
    """Stream a stored file to whoever holds a valid, unexpired signed URL."""
    key = request.match_info["key"]
    if not _signature_valid(request, key):
        raise Problem(403, "the download link is invalid or expired")
    try:
        media_type = media_type_of_key(key)
    except ValueError:
        raise not_found("no such file") from None
    async with aclosing(request.app[STORAGE].read(key)) as chunks:
        try:
            first = await anext(chunks, b"")
        except ObjectNotFound:
            raise not_found("no such file") from None
        response = web.StreamResponse(
            headers={
                "Content-Type": media_type.value,
                "Content-Disposition": content_disposition(request.query["filename"]),
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
            }
        )
        await response.prepare(request)
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
    await response.write_eof()
    return response
