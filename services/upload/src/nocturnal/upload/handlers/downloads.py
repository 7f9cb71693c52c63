"""`GET /api/files/{key}`: signed downloads of the local storage backend."""

from __future__ import annotations

from contextlib import aclosing
from typing import Annotated

from aiohttp import web
from pydantic import ConfigDict, Field, ValidationError

from nocturnal.shared.http.request import QueryModel, integer_in
from nocturnal.upload.domain.files import content_disposition
from nocturnal.upload.domain.signing import BadSignature
from nocturnal.upload.keys import DOWNLOADS

MAX_EXPIRES = 10**12 - 1


class DownloadQuery(QueryModel):
    """The signed part of a download URL, as the upload service made it: any change, or a
    missing part, makes the link invalid (403)."""

    # What the signature covers, as written; other parameters (a mail client's tracking ones)
    # are not the link's and do not spoil it.
    model_config = ConfigDict(str_strip_whitespace=False, extra="ignore")

    expires: Annotated[
        int,
        Field(ge=0, le=MAX_EXPIRES, description="Unix time, seconds"),
        integer_in(0, MAX_EXPIRES),
    ]
    filename: Annotated[str, Field(description="the name the download is saved as")]
    signature: Annotated[str, Field(min_length=1)]


async def download_file(request: web.Request) -> web.StreamResponse:
    """Stream a stored file to whoever holds a valid, unexpired signed URL."""
    key = request.match_info["key"]
    try:
        query = DownloadQuery.model_validate({name: request.query[name] for name in request.query})
    except ValidationError:
        raise BadSignature(key) from None
    filename = query.filename
    download = await request.app[DOWNLOADS].open(
        key, expires=query.expires, filename=filename, signature=query.signature
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
