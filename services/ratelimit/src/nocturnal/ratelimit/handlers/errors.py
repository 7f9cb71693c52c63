"""The ratelimit service's use-case errors as problems: the one table."""

from __future__ import annotations

from nocturnal.ratelimit.service_layer import CostAboveLimit, StoreUnavailable, UnknownPolicy
from nocturnal.shared.http.errors import ProblemOf, ProblemTable

PROBLEMS: ProblemTable = {
    UnknownPolicy: ProblemOf(404, str),
    CostAboveLimit: ProblemOf(400, errors=lambda exc: [{"field": "cost", "message": str(exc)}]),
    StoreUnavailable: ProblemOf(
        503, "the rate-limit store is unavailable", headers={"Retry-After": "1"}
    ),
}
"""404 unknown policy, 400 a cost no window could allow, 503 while Redis is down for a change
that needs it (a check never does: it is decided locally)."""
