"""The upload service's domain and use-case errors as problems: the one table."""

from __future__ import annotations

from collections.abc import Mapping

from nocturnal.shared.http.errors import ProblemOf
from nocturnal.shared.problems import Problem, not_found
from nocturnal.upload.domain.files import (
    EmptyFile,
    FileNotFound,
    FileTooLarge,
    OwnerErased,
    UnsupportedMediaType,
)
from nocturnal.upload.domain.signing import BadSignature
from nocturnal.upload.handlers.multipart import too_large

PROBLEMS: Mapping[type[Exception], ProblemOf] = {
    FileTooLarge: lambda exc: too_large(exc.max_bytes),
    UnsupportedMediaType: lambda exc: Problem(415, str(exc)),
    EmptyFile: lambda exc: Problem(400, str(exc)),
    FileNotFound: lambda _: not_found("no such file"),
    OwnerErased: lambda _: not_found("this account no longer exists"),
    BadSignature: lambda _: Problem(403, "the download link is invalid or expired"),
}
"""413 too large, 415 not an accepted type, 400 empty, 404 missing or not the caller's (or an
upload finishing after its owner's account was deleted), 403 a download link that is not ours
or has expired."""
