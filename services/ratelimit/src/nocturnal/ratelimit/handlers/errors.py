"""The ratelimit service's use-case errors as problems: the one table."""

from __future__ import annotations

from collections.abc import Mapping

from nocturnal.ratelimit.service_layer import CostAboveLimit, StoreUnavailable, UnknownPolicy
from nocturnal.shared.http.errors import ProblemOf
from nocturnal.shared.problems import Problem, not_found, validation_problem

PROBLEMS: Mapping[type[Exception], ProblemOf] = {
    UnknownPolicy: lambda exc: not_found(str(exc)),
    CostAboveLimit: lambda exc: validation_problem([{"field": "cost", "message": str(exc)}]),
    StoreUnavailable: lambda _: Problem(
        503,
        "the rate-limit store is unavailable",
        headers={"Retry-After": "1"},
    ),
}
"""404 unknown policy, 400 a cost no window could allow, 503 while Redis is down for a change
that needs it (a check never does: it is decided locally)."""
