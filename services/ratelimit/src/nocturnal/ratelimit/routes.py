"""The ratelimit service's routes (internal only: the gateway does not route them)."""

from __future__ import annotations

from aiohttp import web

from nocturnal.ratelimit import SERVICE
from nocturnal.ratelimit.handlers import http
from nocturnal.ratelimit.handlers.errors import PROBLEMS
from nocturnal.ratelimit.service_layer import CostAboveLimit, StoreUnavailable, UnknownPolicy
from nocturnal.shared.event_payloads import TierChangedData
from nocturnal.shared.http.routes import Json, Reply, Route, RouteTable, add_routes
from nocturnal.shared.ratelimit.policies import Decision

ROUTES = RouteTable(
    SERVICE,
    (
        Route(
            "POST",
            "/v1/check",
            http.check,
            "check",
            Reply(200, "The decision (a denial is a 200 too: `allowed` is false).", Decision),
            body=Json(http.CheckRequest),
            errors=(UnknownPolicy, CostAboveLimit),
            internal=True,
        ),
        Route(
            "GET",
            "/v1/policies",
            http.list_policies,
            "policies",
            Reply(200, "The policies, by name.", http.PoliciesView),
            internal=True,
        ),
        Route(
            "POST",
            "/v1/subjects/{policy}/{subject}/tier",
            http.set_tier,
            "subject-tier",
            Reply(
                200, "The override, in force until `until` (as its event says it).", TierChangedData
            ),
            body=Json(http.TierRequest),
            errors=(UnknownPolicy, StoreUnavailable),
            problems={400: f"the subject {http.SUBJECT_RULE}"},
            internal=True,
        ),
    ),
    PROBLEMS,
)
"""Every ratelimit route: internal, called by the other services and by operators."""


def setup_routes(app: web.Application) -> None:
    """Register the named routes on `app`."""
    add_routes(app, ROUTES)
