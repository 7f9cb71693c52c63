"""The api's domain and use-case errors as problems: the one table (DESIGN §1 statuses)."""

from __future__ import annotations

from collections.abc import Mapping

from nocturnal.api.domain.errors import InvalidValue, NotFound, NotPoster, StateConflict
from nocturnal.shared.http.errors import ProblemOf
from nocturnal.shared.problems import conflict, forbidden, not_found, validation_problem

PROBLEMS: Mapping[type[Exception], ProblemOf] = {
    InvalidValue: lambda exc: validation_problem([{"field": exc.field, "message": exc.message}]),
    StateConflict: lambda exc: conflict(str(exc)),
    NotPoster: lambda exc: forbidden(str(exc)),
    NotFound: lambda exc: not_found(str(exc)),
}
"""400 invalid value, 403 not the poster, 404 not found (or not visible, or the caller's account
was deleted: `AccountErased`), 409 state conflict; an invalid cursor is 400 in every service
(`nocturnal.shared.http.errors`)."""
