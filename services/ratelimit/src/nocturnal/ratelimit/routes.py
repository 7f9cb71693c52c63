"""The ratelimit service's routes (internal only: the gateway does not route them)."""

from __future__ import annotations

from aiohttp import web

from nocturnal.ratelimit.handlers import http


def setup_routes(app: web.Application) -> None:
    """Register the named routes on `app`."""
    app.router.add_post("/v1/check", http.check, name="check")
    app.router.add_get("/v1/policies", http.list_policies, name="policies")
    app.router.add_post("/v1/subjects/{policy}/{subject}/tier", http.set_tier, name="subject-tier")
