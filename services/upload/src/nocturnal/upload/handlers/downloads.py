"""`GET /api/files/{key}`: signed downloads of the local storage backend."""

from __future__ import annotations

from contextlib import aclosing

from aiohttp import web

from nocturnal.upload.domain.files import content_disposition
from nocturnal.upload.domain.signing import BadSignature
from nocturnal.upload.keys import DOWNLOADS

MAX_EXPIRES_DIGITS = 12


async def download_file(request: web.Request) -> web.StreamResponse:
    """Stream a stored file to whoever holds a valid, unexpired signed URL."""
    key = request.match_info["key"]
    expires = request.query.get("expires", "")
    filename = request.query.get("filename")
    signature = request.query.get("signature")
    if not (expires.isdigit() and len(expires) <= MAX_EXPIRES_DIGITS) or not signature:
        raise BadSignature(key)
    if filename is None:
        raise BadSignature(key)
    download = await request.app[DOWNLOADS].open(
        key, expires=int(expires), filename=filename, signature=signature
    )
    async with aclosing(download.rest) as rest:
        response = web.StreamResponse(
            headers={
                "Content-Type": download.media_type.value,
                "Content-Disposition": content_disposition(filename),
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
            }
        )
        await response.prepare(request)
        await response.write(download.first)
        async for chunk in rest:
            await response.write(chunk)
    await response.write_eof()
    return response
