"""The api's rate limit: every `/api/` request but `/api/health` counts against the `api` policy."""

from __future__ import annotations

from aiohttp import web

from nocturnal.shared.auth.requests import authenticate
from nocturnal.shared.http.app import SETTINGS
from nocturnal.shared.http.request import client_ip
from nocturnal.shared.problems import Problem
from nocturnal.shared.ratelimit.requests import enforce

API_POLICY = "api"
API_PREFIX = "/api/"
UNLIMITED_PATHS = frozenset({"/api/health"})


async def rate_limit(request: web.Request) -> None:
    """Count every `/api/` request but `/api/health` against the `api` policy (429 when over).

    A caller with a valid token is counted as (ip, user); anyone else as (ip, anonymous) —
    a bad token is counted before its 401, so guessing tokens is limited too.
    """
    if not request.path.startswith(API_PREFIX) or request.path in UNLIMITED_PATHS:
        return
    ip = client_ip(request, request.app[SETTINGS].client_ip_header)
    user_id: str | None = None
    rejected: Problem | None = None
    if "Authorization" in request.headers:
        try:
            user_id = (await authenticate(request)).user_id
        except Problem as problem:
            rejected = problem
    await enforce(request, API_POLICY, ip, user_id=user_id)
    if rejected is not None:
        raise rejected
