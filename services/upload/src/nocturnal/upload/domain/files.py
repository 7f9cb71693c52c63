"""Files: kinds and their limits, detected media types, object keys, file names, event data."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated
from urllib.parse import quote

import puremagic
from pydantic import Field
from typing_extensions import TypedDict

from nocturnal.shared.clock import Timestamp, rfc3339
from nocturnal.shared.event_payloads import FileData
from nocturnal.shared.unit_of_work import DomainEvent

FILE_UPLOADED = "file.uploaded"
FILE_DELETED = "file.deleted"
MiB = 1024 * 1024
SNIFF_BYTES = 4096
"""How many leading bytes the media type is decided from (every accepted signature fits)."""
MAX_FILENAME_CHARS = 255


class UploadRejected(Exception):
    """An upload the rules refuse; `str(exc)` is safe to show the client."""


class EmptyFile(UploadRejected):
    """The file part has no bytes."""


class FileTooLarge(UploadRejected):
    """The file is longer than its kind allows (`max_bytes`)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        super().__init__(f"the file is larger than {max_bytes} bytes")


class UnsupportedMediaType(UploadRejected):
    """The file's magic bytes are not one of the types its kind accepts."""


class FileNotFound(Exception):
    """No such file, or not the caller's."""


class OwnerErased(Exception):
    """The uploader's account was deleted and their files erased: nothing more is stored."""


class MediaType(StrEnum):
    """The media types a file can be stored as, decided from its magic bytes."""

    JPEG = "image/jpeg"
    PNG = "image/png"
    WEBP = "image/webp"
    PDF = "application/pdf"

    @property
    def extension(self) -> str:
        """File-name extension used in object keys."""
        return _EXTENSIONS[self]

    @classmethod
    def from_extension(cls, extension: str) -> MediaType:
        """The media type a server-made key's extension stands for.

        Raises:
            ValueError: not an extension of ours.
        """
        for media_type, known in _EXTENSIONS.items():
            if known == extension:
                return media_type
        raise ValueError(f"unknown extension {extension!r}")


_EXTENSIONS = {
    MediaType.JPEG: "jpg",
    MediaType.PNG: "png",
    MediaType.WEBP: "webp",
    MediaType.PDF: "pdf",
}


class FileKind(StrEnum):
    """What a file is for; each kind has its own size limit and accepted media types."""

    PROFILE_PHOTO = "profile-photo"
    DOCUMENT = "document"

    @property
    def default_max_bytes(self) -> int:
        """Largest accepted file, in bytes, unless the deployment sets another limit."""
        return 5 * MiB if self is FileKind.PROFILE_PHOTO else 20 * MiB

    @property
    def accepted(self) -> frozenset[MediaType]:
        """Media types this kind accepts."""
        if self is FileKind.PROFILE_PHOTO:
            return frozenset({MediaType.JPEG, MediaType.PNG, MediaType.WEBP})
        return frozenset({MediaType.PDF, MediaType.JPEG, MediaType.PNG})

    @property
    def plural(self) -> str:
        """The first segment of this kind's object keys (`profile-photos`, `documents`)."""
        return f"{self.value}s"


def detect_media_type(kind: FileKind, head: bytes) -> MediaType:
    """The media type of a file starting with `head`, if `kind` accepts it.

    Only the magic bytes count, never a client's Content-Type or file name. Among the
    signatures matching with the highest confidence exactly one accepted type must remain.

    Raises:
        UnsupportedMediaType: no accepted type matches.
    """
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        matches = []
    best = max((match.confidence for match in matches), default=0.0)
    found = {match.mime_type for match in matches if match.confidence == best}
    candidates = [media_type for media_type in kind.accepted if media_type.value in found]
    if len(candidates) != 1:
        accepted = ", ".join(sorted(media_type.value for media_type in kind.accepted))
        raise UnsupportedMediaType(f"a {kind.value} must be one of: {accepted}")
    return candidates[0]


class Meter:
    """Size and SHA-256 of bytes as they stream past, refusing more than `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._hash = hashlib.sha256()

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the bytes measured so far."""
        return self._hash.hexdigest()

    async def measure(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """Pass `chunks` through, counting and hashing them.

        Raises:
            FileTooLarge: as soon as more than `max_bytes` have been seen.
        """
        async for chunk in chunks:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise FileTooLarge(self.max_bytes)
            self._hash.update(chunk)
            yield chunk


KEY_PATTERN = re.compile(
    r"^(?:profile-photos|documents)/\d{4}-\d{2}-\d{2}/[0-9a-f]{32}\.(jpg|png|webp|pdf)$"
)


def object_key(kind: FileKind, media_type: MediaType, file_id: str, on: datetime) -> str:
    """Server-made ASCII storage key `{kind-plural}/{YYYY-MM-DD}/{file_id}.{ext}`."""
    return f"{kind.plural}/{on.astimezone(UTC):%Y-%m-%d}/{file_id}.{media_type.extension}"


def media_type_of_key(key: str) -> MediaType:
    """The media type of a server-made key.

    Raises:
        ValueError: `key` is not a key this service makes.
    """
    match = KEY_PATTERN.fullmatch(key)
    if match is None:
        raise ValueError("not an object key")
    return MediaType.from_extension(match.group(1))


_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def clean_filename(raw: str | None, *, fallback: str) -> str:
    """A client's file name as data: NFC, without control/format characters, at most 255 chars.

    Path separators and dots are kept: the name is never used in a path. `fallback` when
    nothing printable is left.
    """
    text = unicodedata.normalize("NFC", raw or "")
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    return kept.strip()[:MAX_FILENAME_CHARS] or fallback


_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()+,=@!#$&'~^\[\]{}-]")


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII `filename` and an RFC 5987 UTF-8 `filename*` (RFC 6266)."""
    decomposed = unicodedata.normalize("NFKD", filename)
    folded = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    ascii_name = _ASCII_UNSAFE.sub("_", folded).strip() or "download"
    encoded = quote(filename, safe="!#$&+-.^_`|~")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"


class StoredFileView(TypedDict):
    """A stored file's metadata as its owner sees it (never its bytes or storage key)."""

    id: str
    kind: FileKind
    content_type: Annotated[MediaType, Field(description="decided from the file's bytes")]
    size: Annotated[int, Field(ge=1, description="bytes")]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="of the bytes, hex")]
    original_filename: Annotated[
        str, Field(max_length=MAX_FILENAME_CHARS, description="as sent, cleaned: data, not a path")
    ]
    created_at: Timestamp


@dataclass(frozen=True)
class StoredFile:
    """A stored file's metadata; the bytes live in storage under `key`."""

    id: str
    owner_id: str
    kind: FileKind
    key: str
    content_type: MediaType
    size: int
    sha256: str
    original_filename: str
    created_at: datetime

    def public(self) -> StoredFileView:
        """The API representation `{id, kind, content_type, size, sha256, original_filename, created_at}`."""
        return {
            "id": self.id,
            "kind": self.kind,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "original_filename": self.original_filename,
            "created_at": rfc3339(self.created_at),
        }

    def event(self, name: str) -> DomainEvent:
        """`file.uploaded` / `file.deleted` about this file (subject: its id), with data
        `{file_id, owner_id, kind, content_type, size, sha256}`."""
        data = FileData(
            file_id=self.id,
            owner_id=self.owner_id,
            kind=self.kind.value,
            content_type=self.content_type.value,
            size=self.size,
            sha256=self.sha256,
        )
        return DomainEvent(name, data.to_data(), subject=self.id)
