"""Domain and use-case errors answered as problems: each service declares its table once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nocturnal.shared.mongo_errors import DATABASE_UNAVAILABLE, RETRY_AFTER_S, CommitOutcomeUnknown
from nocturnal.shared.paging import InvalidCursor
from nocturnal.shared.problems import Problem, validation_problem

FieldErrors = list[dict[str, str]]


@dataclass(frozen=True)
class ProblemOf:
    """How one caught error is answered (RFC 9457): its `status`, known before any error is
    raised (the OpenAPI document lists it), and what the problem says about the error.

    `detail` is a fixed text or a function of the error (None: the status's standard wording);
    `errors`, for a 400, turns the error into `[{field, message}]` (the detail is then the one of
    every validation failure); `headers` are added to the response (e.g. `Retry-After`).
    """

    status: int
    detail: str | Callable[[Any], str] | None = None
    errors: Callable[[Any], FieldErrors] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.errors is not None and self.status != 400:
            raise ValueError("field errors are a 400's (validation failures)")

    def __call__(self, exc: Exception) -> Problem:
        """The problem answering `exc`."""
        if self.errors is not None:
            return validation_problem(self.errors(exc))
        detail = self.detail(exc) if callable(self.detail) else self.detail
        return Problem(self.status, detail, headers=dict(self.headers))


ProblemTable = Mapping[type[Exception], ProblemOf]
"""A service's domain and use-case errors → the problems its clients get."""

_DATABASE_UNAVAILABLE = ProblemOf(
    503, "the database is unavailable; retry later", headers={"Retry-After": str(RETRY_AFTER_S)}
)

SHARED_PROBLEMS: ProblemTable = {
    InvalidCursor: ProblemOf(
        400, errors=lambda _: [{"field": "cursor", "message": "invalid cursor"}]
    ),
    **dict.fromkeys(DATABASE_UNAVAILABLE, _DATABASE_UNAVAILABLE),
    CommitOutcomeUnknown: ProblemOf(
        503,
        "the database did not confirm the change in time: it may have been stored; check"
        " before repeating it",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    ),
}
"""Errors of the shared library every service answers the same way."""


def problem_of(problems: ProblemTable, error: type[Exception]) -> ProblemOf | None:
    """The entry answering `error`: the nearest class in its MRO (`SHARED_PROBLEMS` included)."""
    table = {**SHARED_PROBLEMS, **problems}
    return next((table[cls] for cls in error.__mro__ if cls in table), None)
