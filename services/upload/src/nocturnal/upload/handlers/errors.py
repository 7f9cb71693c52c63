"""The upload service's domain and use-case errors as problems: the one table."""

from __future__ import annotations

from nocturnal.shared.http.errors import ProblemOf, ProblemTable
from nocturnal.upload.domain.files import (
    EmptyFile,
    FileNotFound,
    FileTooLarge,
    OwnerErased,
    UnsupportedMediaType,
)
from nocturnal.upload.domain.signing import BadSignature
from nocturnal.upload.handlers.multipart import file_limit

PROBLEMS: ProblemTable = {
    FileTooLarge: ProblemOf(413, lambda exc: file_limit(exc.max_bytes)),
    UnsupportedMediaType: ProblemOf(415, str),
    EmptyFile: ProblemOf(400, str),
    FileNotFound: ProblemOf(404, "no such file"),
    OwnerErased: ProblemOf(404, "this account no longer exists"),
    BadSignature: ProblemOf(403, "the download link is invalid or expired"),
}
"""413 too large, 415 not an accepted type, 400 empty, 404 missing or not the caller's (or an
upload finishing after its owner's account was deleted), 403 a download link that is not ours
or has expired."""
