"""Reading the one `file` part of a `multipart/form-data` upload as a stream of chunks."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Awaitable
from typing import cast

from aiohttp import BodyPartReader, MultipartReader, StreamReader, web
from aiohttp.http_exceptions import HttpProcessingError

from nocturnal.shared.problems import Problem

CHUNK_BYTES = 64 * 1024
MULTIPART_OVERHEAD_BYTES = 16 * 1024
"""Room for boundaries and part headers (a long file name) on top of the file itself."""
FILE_FIELD = "file"


class _GuardedStream:
    """The request body stream as the multipart parser sees it, with two guards.

    Size: every byte the parser consumes (preamble, headers, parts, epilogue) counts, so the
    limit holds for the whole request, chunked or not (413 past `max_bytes`). Time: a read
    waiting more than `idle_timeout_s` for the client ends the request (408), so a stalled
    upload does not hold a handler forever.
    """

    def __init__(
        self, stream: StreamReader, *, max_bytes: int, file_limit: int, idle_timeout_s: float
    ) -> None:
        self._stream = stream
        self._max_bytes = max_bytes
        self._file_limit = file_limit
        self._idle_timeout_s = idle_timeout_s
        self._consumed = 0

    async def _counted(self, read: Awaitable[bytes]) -> bytes:
        try:
            async with asyncio.timeout(self._idle_timeout_s):
                data = await read
        except TimeoutError:
            raise Problem(408, "the upload stalled") from None
        self._consumed += len(data)
        if self._consumed > self._max_bytes:
            raise too_large(self._file_limit)
        return data

    async def read(self, n: int = -1) -> bytes:
        return await self._counted(self._stream.read(n))

    async def readline(self, *, max_line_length: int | None = None) -> bytes:
        return await self._counted(self._stream.readline(max_line_length=max_line_length))

    def unread_data(self, data: bytes) -> None:
        self._consumed -= len(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self._stream.unread_data(data)

    def at_eof(self) -> bool:
        return self._stream.at_eof()


_MALFORMED = (ValueError, HttpProcessingError)


def _bad_request(detail: str) -> Problem:
    return Problem(400, detail)


def _malformed() -> Problem:
    return _bad_request("the multipart/form-data body is malformed or incomplete")


def file_limit(max_bytes: int) -> str:
    """What a 413 says of an upload over `max_bytes`."""
    return f"the file is limited to {max_bytes} bytes"


def too_large(max_bytes: int) -> Problem:
    """413 for an upload over `max_bytes`."""
    return Problem(413, file_limit(max_bytes))


class FilePart:
    """The single `file` part of an upload request.

    `chunks()` yields its bytes and, once they end, checks that no other part follows
    (400 otherwise), so a stream consumed to the end was a well-formed single-file request.
    """

    def __init__(self, reader: MultipartReader, part: BodyPartReader) -> None:
        self._reader = reader
        self._part = part
        self.filename = part.filename

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes, in chunks of up to 64 KiB.

        Raises:
            Problem: 400 when the body is malformed or another part follows; 413, 408 (see
                `file_part`).
        """
        try:
            while chunk := await self._part.read_chunk(CHUNK_BYTES):
                yield chunk
            another = await self._reader.next()
        except _MALFORMED:
            raise _malformed() from None
        if another is not None:
            raise _bad_request(f"send exactly one part, named {FILE_FIELD!r}")


async def file_part(
    request: web.Request, max_file_bytes: int, *, idle_timeout_s: float
) -> FilePart:
    """Open the request's single `file` part without reading its body.

    Raises:
        Problem: 415 when not `multipart/form-data`; 413 when Content-Length is over the
            limit; 400 when malformed, or the first part is not a `file` part. Reading the body
            later raises 413 past the limit plus multipart overhead, 408 when it stalls.
    """
    if request.content_type != "multipart/form-data":
        raise Problem(415, "the upload must be multipart/form-data")
    max_request_bytes = max_file_bytes + MULTIPART_OVERHEAD_BYTES
    if request.content_length is not None and request.content_length > max_request_bytes:
        raise too_large(max_file_bytes)
    guarded = _GuardedStream(
        request.content,
        max_bytes=max_request_bytes,
        file_limit=max_file_bytes,
        idle_timeout_s=idle_timeout_s,
    )
    stream = cast(StreamReader, guarded)
    try:
        reader = MultipartReader(request.headers, stream)
        part = await reader.next()
    except (*_MALFORMED, AssertionError):
        raise _malformed() from None
    if part is None:
        raise _bad_request(f"the {FILE_FIELD!r} part is missing")
    if not isinstance(part, BodyPartReader) or part.name != FILE_FIELD:
        raise _bad_request(f"send exactly one part, named {FILE_FIELD!r}")
    return FilePart(reader, part)
