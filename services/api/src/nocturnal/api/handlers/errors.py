"""The api's domain and use-case errors as problems: the one table (DESIGN §1 statuses)."""

from __future__ import annotations

from nocturnal.api.domain.errors import InvalidValue, NotFound, NotPoster, StateConflict
from nocturnal.shared.http.errors import ProblemOf, ProblemTable

PROBLEMS: ProblemTable = {
    InvalidValue: ProblemOf(400, errors=lambda exc: [{"field": exc.field, "message": exc.message}]),
    StateConflict: ProblemOf(409, str),
    NotPoster: ProblemOf(403, str),
    NotFound: ProblemOf(404, str),
}
"""400 invalid value, 403 not the poster, 404 not found (or not visible, or the caller's account
was deleted: `AccountErased`), 409 state conflict; an invalid cursor is 400 in every service
(`nocturnal.shared.http.errors`)."""
