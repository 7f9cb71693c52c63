"""Hand-built `multipart/form-data` bodies, so tests control every byte a client could send."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from urllib.parse import quote

BOUNDARY = "nocturnal-test-boundary-7f3a"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def part(
    data: bytes,
    *,
    name: str = "file",
    filename: str | None = "upload.bin",
    content_type: str = "application/octet-stream",
) -> bytes:
    """One part: headers, a blank line, the bytes (a file part when `filename` is given).

    The file name goes in RFC 5987 form (`filename*=UTF-8''...`), so it can hold any character.
    """
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f"; filename*=UTF-8''{quote(filename, safe='')}"
    headers = f"Content-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n"
    return headers.encode() + data


def body(parts: Iterable[bytes]) -> bytes:
    """The whole body: each part after a delimiter, then the close delimiter."""
    chunks = [b"--" + BOUNDARY.encode() + b"\r\n" + p + b"\r\n" for p in parts]
    return b"".join(chunks) + b"--" + BOUNDARY.encode() + b"--\r\n"


def single(
    data: bytes, *, filename: str | None = "upload.bin", content_type: str = "image/png"
) -> bytes:
    """A body with the one `file` part."""
    return body([part(data, filename=filename, content_type=content_type)])


async def chunked(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    """`data` as a stream: sent with `Transfer-Encoding: chunked`, no Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]
